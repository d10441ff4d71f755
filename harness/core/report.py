"""The bisection report as a typed value: built once by the driver, read back (and checked)
by the report renderers and the publisher."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.core.bisection import Kind, Observation, Status
from harness.core.buildkind import LEGACY, Builders
from harness.core.errors import UserError
from harness.core.model import Behaviour, CellResult, ResultFormatError, StepRef, Verdict
from harness.core.remedies import Advice, advise

REPORT_SCHEMA = 1
SKIP = "skip"  # the stored form of a probe or cross cell that could not be judged
_FLAKY = re.compile(r"flaky \((?P<majority>.+) (?P<agreeing>\d+)/(?P<runs>\d+)\)\Z")
# How harness 0.2.0 stored a report's two ends: in the words of its summary.
_WORDS_DIVERGED = re.compile(r"diverged at step (?P<step>\d+)\Z")
_WORDS_FAILS = re.compile(r"the build fails \((?P<failure>.*)\)\Z", re.DOTALL)


def observation_to_json(observation: Observation) -> str:
    """The stored form: a behaviour ("shared", "diverged@3"), "skip", or "flaky (diverged@3
    2/3)" ("None" as the majority when most runs could not be judged)."""
    if observation.kind is Kind.SKIP:
        return SKIP
    verdict = observation.verdict
    majority = verdict.to_json() if isinstance(verdict, Behaviour) else str(verdict)
    if observation.kind is Kind.FLAKY:
        return f"flaky ({majority} {observation.agreement})"
    return majority


def observation_from_json(text: str, runs: str) -> Observation:
    """The inverse of ``observation_to_json``, with the stored "agreeing/runs" count."""
    total = int(runs.partition("/")[2])
    if text == SKIP:
        return Observation.skipped(total)
    if flaky := _FLAKY.match(text):
        majority = flaky["majority"]
        return Observation.flaky(
            None if majority == "None" else Behaviour.from_json(majority),
            int(flaky["agreeing"]),
            int(flaky["runs"]),
        )
    return Observation.of(Behaviour.from_json(text), total)


@dataclass(frozen=True)
class Probe:
    """One probed version: what it showed and how sure we are."""

    version: str
    sdk: str | None
    compose: str | None
    observation: Observation  # a Behaviour all runs agreed on, a skip, or flaky runs
    stored: bool
    detail: str
    diverged_at: StepRef | None = None
    cell: CellResult | None = None

    @property
    def runs(self) -> str:
        """Agreeing runs / all runs, e.g. "1/1"."""
        return self.observation.agreement

    @property
    def behaviour(self) -> Behaviour | None:
        """What every run of the probe showed; None when skipped or flaky."""
        verdict = self.observation.verdict
        judged = self.observation.kind is Kind.VERDICT
        return verdict if judged and isinstance(verdict, Behaviour) else None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "sdk": self.sdk,
            "compose": self.compose,
            "verdict": observation_to_json(self.observation),
            "runs": self.runs,
            "stored": self.stored,
            "detail": self.detail,
            "diverged_at": self.diverged_at.as_json() if self.diverged_at else None,
            "cell": self.cell.to_json() if self.cell else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Probe:
        at = data.get("diverged_at")
        cell = data.get("cell")
        return cls(
            version=_text(data, "version"),
            sdk=_optional_text(data, "sdk"),
            compose=_optional_text(data, "compose"),
            observation=observation_from_json(_text(data, "verdict"), _text(data, "runs")),
            stored=bool(data.get("stored", False)),
            detail=str(data.get("detail", "")),
            diverged_at=StepRef.from_json(at) if at else None,
            cell=CellResult.from_json(cell) if cell else None,
        )


@dataclass(frozen=True)
class Cross:
    """A cross cell: one release of the pair run with the other's docker SDK."""

    compose: str
    sdk: str
    behaviour: Behaviour | None  # None: the cell could not be judged
    detail: str

    def to_json(self) -> dict[str, str]:
        return {
            "compose": self.compose,
            "sdk": self.sdk,
            "verdict": self.behaviour.to_json() if self.behaviour else SKIP,
            "detail": self.detail,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Cross:
        verdict = str(data["verdict"])
        return cls(
            str(data["compose"]),
            str(data["sdk"]),
            None if verdict == SKIP else Behaviour.from_json(verdict),
            str(data["detail"]),
        )


@dataclass(frozen=True)
class Culprit:
    """Which package the change follows (None: the crosses do not say), and why."""

    package: str | None
    reason: str
    crosses: tuple[Cross, ...] = ()
    sdks: Mapping[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"package": self.package, "reason": self.reason}
        if self.crosses:
            data["crosses"] = [cross.to_json() for cross in self.crosses]
        if self.sdks is not None:
            data["sdks"] = dict(self.sdks)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Culprit:
        return cls(
            package=_optional_text(data, "package"),
            reason=_text(data, "reason"),
            crosses=tuple(Cross.from_json(c) for c in _list(data, "crosses")),
            sdks=dict(data["sdks"]) if data.get("sdks") else None,
        )


@dataclass(frozen=True)
class BisectReport:
    package: str
    status: Status
    low: str
    high: str
    resolved: tuple[str, str]
    count: int
    held: Mapping[str, str]
    scenario: str
    cli_build: str
    repeat: int
    last_old: str | None
    first_new: str | None
    old_verdict: Behaviour | None  # what the range's old end shows (None: not judged)
    new_verdict: Behaviour | None
    candidates: tuple[str, ...]
    flaky: str | None
    reason: str | None
    probes: tuple[Probe, ...]
    builds: int
    compare_url: str | None
    reproduce: str
    culprit: Culprit | None = None
    reproduce_old: str | None = None
    builder: Builders = LEGACY

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "schema": REPORT_SCHEMA,
            "package": self.package,
            "status": self.status.value,
            "range": {
                "low": self.low,
                "high": self.high,
                "resolved": list(self.resolved),
                "count": self.count,
            },
            "held": dict(self.held),
            "scenario": self.scenario,
            "cli_build": self.cli_build,
            "repeat": self.repeat,
            "last_old": self.last_old,
            "first_new": self.first_new,
            "old_verdict": self.old_verdict.to_json() if self.old_verdict else None,
            "new_verdict": self.new_verdict.to_json() if self.new_verdict else None,
            "candidates": list(self.candidates),
            "flaky": self.flaky,
            "reason": self.reason,
            "probes": [probe.to_json() for probe in self.probes],
            "builds": self.builds,
            "compare_url": self.compare_url,
            "reproduce": self.reproduce,
            "culprit": self.culprit.to_json() if self.culprit else None,
        }
        if self.reproduce_old is not None:
            data["reproduce_old"] = self.reproduce_old
        if not self.builder.legacy:
            data["builder"] = str(self.builder)
        return data

    @classmethod
    def from_json(cls, data: object) -> BisectReport:
        """Read a report back; a field of the wrong shape is named in the error."""
        if not isinstance(data, Mapping):
            raise ResultFormatError("a bisect report must be a JSON object")
        try:
            span = data["range"]
            if not isinstance(span, Mapping):
                raise ResultFormatError("field 'range' must be an object")
            resolved = _list(span, "resolved")
            if len(resolved) != 2:
                raise ResultFormatError("field 'range.resolved' must hold two versions")
            culprit = data.get("culprit")
            if culprit is not None and not isinstance(culprit, Mapping):
                raise ResultFormatError("field 'culprit' must be an object or null")
            return cls(
                package=_text(data, "package"),
                status=Status(_text(data, "status")),
                low=str(span["low"]),
                high=str(span["high"]),
                resolved=(str(resolved[0]), str(resolved[1])),
                count=int(span["count"]),
                held=dict(data.get("held") or {}),
                scenario=str(data.get("scenario", "seed")),
                cli_build=str(data.get("cli_build", "default")),
                builder=Builders.parse(str(data.get("builder", "legacy"))),
                repeat=int(data.get("repeat", 1)),
                last_old=_optional_text(data, "last_old"),
                first_new=_optional_text(data, "first_new"),
                old_verdict=_stored_behaviour(_optional_text(data, "old_verdict")),
                new_verdict=_stored_behaviour(_optional_text(data, "new_verdict")),
                candidates=tuple(str(c) for c in _list(data, "candidates")),
                flaky=_optional_text(data, "flaky"),
                reason=_optional_text(data, "reason"),
                probes=tuple(_probe(n, p) for n, p in enumerate(_list(data, "probes"), 1)),
                builds=int(data.get("builds", 0)),
                compare_url=_optional_text(data, "compare_url"),
                reproduce=_text(data, "reproduce"),
                culprit=Culprit.from_json(culprit) if culprit else None,
                reproduce_old=_optional_text(data, "reproduce_old"),
            )
        except ResultFormatError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, UserError) as error:
            raise ResultFormatError(f"bad or missing field: {error}") from None


def _probe(number: int, data: object) -> Probe:
    """Probe ``number`` of a report; a wrong one is named by its place in the list."""
    if not isinstance(data, Mapping):
        raise ResultFormatError(f"probe {number}: must be an object")
    try:
        return Probe.from_json(data)
    except ResultFormatError as error:
        raise ResultFormatError(f"probe {number}: {error}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ResultFormatError(f"probe {number}: bad or missing field: {error}") from None


def _stored_behaviour(text: str | None) -> Behaviour | None:
    """A report end's stored behaviour ("diverged@3"), or the words older reports stored."""
    if text is None:
        return None
    if diverged := _WORDS_DIVERGED.match(text):
        return Behaviour(Verdict.DIVERGED, int(diverged["step"]))
    if fails := _WORDS_FAILS.match(text):
        return Behaviour(Verdict.ERROR, failure=fails["failure"])
    return Behaviour.from_json(text)


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise ResultFormatError(f"field {key!r} must be a string")
    return value


def _optional_text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise ResultFormatError(f"field {key!r} must be a string or null")
    return value


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise ResultFormatError(f"field {key!r} must be a list")
    return value


@dataclass(frozen=True)
class MatrixDocument:
    """results/matrix.json: the cells of one matrix run and how to reproduce them."""

    cells: tuple[CellResult, ...]
    config: str
    reproduce: str
    generated_at: str

    @property
    def what_to_do(self) -> list[Advice]:
        """The cheapest proven remedy of each diverged cell, grouped (empty without remedies)."""
        return advise(self.cells)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "schema": REPORT_SCHEMA,
            "generated_at": self.generated_at,
            "config": self.config,
            "reproduce": self.reproduce,
        }
        if self.what_to_do:
            data["what_to_do"] = [advice.as_json() for advice in self.what_to_do]
        data["cells"] = [cell.to_json() for cell in self.cells]
        return data

    @classmethod
    def from_json(cls, data: object) -> MatrixDocument:
        if not isinstance(data, Mapping) or data.get("schema") != REPORT_SCHEMA:
            raise ResultFormatError(f"expected a JSON object with schema {REPORT_SCHEMA}")
        cells = []
        for number, cell in enumerate(_list(data, "cells"), start=1):
            try:
                cells.append(CellResult.from_json(cell))
            except ResultFormatError as error:
                raise ResultFormatError(f"cell {number}: {error}") from None
        return cls(
            cells=tuple(cells),
            config=str(data.get("config", "matrix.toml")),
            reproduce=str(data.get("reproduce") or "nox -s matrix"),
            generated_at=str(data.get("generated_at", "")),
        )
