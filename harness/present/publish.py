"""The issue comment that publishes matrix / bisect results, rendered from the typed results.

A headline a reader can act on ("which compose versions share the cache", measured on which
engine with which CLI), then the report's own sections, why cells failed, how to reproduce;
cut by structure to GitHub's comment limit (see ``budget``). No I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from packaging.version import InvalidVersion, Version

from harness.core.bisection import Status
from harness.core.model import CellResult, Verdict
from harness.core.report import BisectReport, MatrixDocument
from harness.present import bisect_report, tables
from harness.present.budget import Page, fit, github_length
from harness.present.comment_marker import MARKER_ROOM, ResultSet
from harness.present.sections import Details, Log, Section, Text, fence_for
from harness.present.words import (
    PREDICATES,
    WHAT_TO_DO_HEADING,
    culprit_sentence,
    end_text,
    observation_text,
)

__all__ = [
    "GITHUB_COMMENT_LIMIT",
    "HEADING",
    "WHATS",
    "Body",
    "Results",
    "bisect_headline",
    "compose_body",
    "failure_logs",
    "github_length",
    "matrix_headline",
    "result_set",
]

GITHUB_COMMENT_LIMIT = 65_536
WHATS = ("matrix", "bisect", "all")
HEADING = "## Does `docker compose build` share the layer cache with `docker build`?"
_MIN_LIMIT = 1_024  # room for the headline's first line, the tail and the cut notes
_INSTRUCTION_WIDTH = 30
_MAX_LISTED = 8
_MAX_RUNS = 10  # runs of versions named on one headline line
RANGE_DASH = "\u2013"  # en dash, as typeset ranges use
_FAILED = (Verdict.ERROR, Verdict.UNINSTALLABLE, Verdict.TIMEOUT)


# -- headlines ---------------------------------------------------------------------------

_CLI_BUILD_ORDER = {"default": 0, "0": 1, "1": 2}


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What one compose version did under one condition; equal outcomes form a run."""

    verdict: Verdict | None  # None: the version's cells disagree (``mixed``)
    step: int | None = None
    instruction: str | None = None
    mixed: tuple[Verdict, ...] = ()


def _outcome(cell: CellResult) -> _Outcome:
    if cell.verdict is Verdict.DIVERGED and cell.diverged_at:
        return _Outcome(cell.verdict, cell.diverged_at.step, cell.diverged_at.instruction)
    return _Outcome(cell.verdict)


def _version_key(version: str) -> tuple[int, Version | None, str]:
    try:
        return (0, Version(version), version)
    except InvalidVersion:
        return (1, None, version)


def _shorten(text: str, width: int = _INSTRUCTION_WIDTH) -> str:
    text = " ".join(text.split()).replace("`", "'")
    if len(text) <= width:
        return text
    cut = text[:width]
    if " " in cut[width // 2 :]:
        cut = cut.rsplit(" ", 1)[0]
    return f"{cut} …"


def _predicate(outcome: _Outcome, plural: bool, cache_named: bool) -> tuple[str, bool]:
    if outcome.verdict is None:
        verb = "give" if plural else "gives"
        return f"{verb} mixed verdicts ({'/'.join(outcome.mixed)})", cache_named
    text = PREDICATES[outcome.verdict][plural]
    if "{cache}" in text:
        text = text.format(cache="it" if cache_named else "the cache")
        cache_named = True
    if outcome.step is not None:
        text += f" at step {outcome.step}"
        if outcome.instruction:
            text += f" (`{_shorten(outcome.instruction)}`)"
    return text, cache_named


def _summarise_condition(by_version: Mapping[str, set[_Outcome]]) -> str:
    runs: list[tuple[str, str, int, _Outcome]] = []
    for version in sorted(by_version, key=_version_key):
        outcomes = by_version[version]
        if len(outcomes) == 1:
            outcome = next(iter(outcomes))
        else:
            verdicts = {o.verdict for o in outcomes if o.verdict is not None}
            outcome = _Outcome(None, mixed=tuple(sorted(verdicts)))
        if runs and runs[-1][3] == outcome:
            first, _, count, _ = runs[-1]
            runs[-1] = (first, version, count + 1, outcome)
        else:
            runs.append((version, version, 1, outcome))
    parts, cache_named = [], False
    for first, last, count, outcome in runs[:_MAX_RUNS]:
        span = first if count == 1 else f"{first}{RANGE_DASH}{last}"
        text, cache_named = _predicate(outcome, count > 1, cache_named)
        parts.append(f"{span} {text}")
    if len(runs) > _MAX_RUNS:  # a headline, not the table: verdicts that alternate stay short
        parts.append(f"and {len(runs) - _MAX_RUNS} more runs of versions (see the table)")
    return "compose " + ", ".join(parts)


def matrix_headline(cells: Sequence[CellResult]) -> list[str]:
    """One line per condition (engine and CLI, scenario, builder, cli_build): runs of compose
    versions, PEP 440 order; a part of the label only when the cells differ in it.

    e.g. "cli_build=default: compose 1.19.0-1.24.1 miss the cache at step 3 (`ADD …`),
    1.25.5-1.29.2 share it" (with an en dash in each range).
    """
    conditions: dict[tuple[str, str, str, str, str], dict[str, set[_Outcome]]] = {}
    for cell in cells:
        key = (
            f"engine {cell.engine.version}",
            f"CLI {cell.cli.version}",
            cell.scenario,
            f"builder={cell.builders}",
            cell.cli_build,
        )
        versions = conditions.setdefault(key, {})
        versions.setdefault(cell.compose, set()).add(_outcome(cell))
    if not conditions:
        return ["matrix.json holds no cells"]
    varying = [len({condition[n] for condition in conditions}) > 1 for n in range(4)]
    lines = []
    for condition in sorted(
        conditions,
        key=lambda c: (
            *c[:3],
            c[3] != "builder=legacy",
            c[3],
            _CLI_BUILD_ORDER.get(c[4], 3),
            c[4],
        ),
    ):
        shown = [part for part, varies in zip(condition[:4], varying, strict=True) if varies]
        label = ", ".join([*shown, f"cli_build={condition[4]}"])
        lines.append(f"{label}: {_summarise_condition(conditions[condition])}")
    return lines


def _listed(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_MAX_LISTED])
    more = len(items) - _MAX_LISTED
    return f"{shown} and {more} more" if more > 0 else shown


def bisect_headline(bisect: BisectReport) -> list[str]:
    """The bisect answer first, then supporting detail lines (culprit, compare link)."""
    package, status = bisect.package, bisect.status
    old, new = end_text(bisect.old_verdict), end_text(bisect.new_verdict)
    last_old, first_new = bisect.last_old, bisect.first_new
    low, high = bisect.low, bisect.high
    details: list[str] = []
    if status is Status.FOUND:
        head = f"First change: {package} {last_old} → {first_new} ({old} → {new})"
    elif status is Status.NO_CHANGE:
        head = f"No change: {package} {low} and {high} behave the same ({old})"
    elif status is Status.AMBIGUOUS:
        head = (
            f"Ambiguous: the change ({old} → {new}) lies between {package} {last_old} "
            f"and {first_new}, where versions could not be tested"
        )
        if bisect.candidates:
            details.append(f"Candidates: {_listed(bisect.candidates)}")
    elif status is Status.FLAKY:
        head = (
            f"Flaky: repeated runs disagreed, so {package} {low}{RANGE_DASH}{high} "
            "has no clear answer"
        )
        unsteady = [
            f"{p.version} ({observation_text(p.observation)} {p.runs})"
            for p in bisect.probes
            if _disagrees(p.runs)
        ]
        if unsteady:
            details.append(f"Unsteady probes: {_listed(unsteady)}")
    elif status is Status.ERROR:
        head = f"Bisect failed: could not complete between {package} {low} and {high}"
    else:
        head = f"Bisect status {status!r} between {package} {low} and {high}"
    if bisect.culprit:
        details.append(culprit_sentence(bisect.culprit.package, bisect.culprit.reason))
    if bisect.compare_url:
        details.append(f"Compare: {bisect.compare_url}")
    return [head, *details]


def _disagrees(runs: str) -> bool:
    agreeing, _, total = runs.partition("/")
    return bool(total) and agreeing.strip() != total.strip()


# -- body --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Results:
    """The typed result documents; only those ``what`` needs must be present."""

    matrix: MatrixDocument | None = None
    bisect: BisectReport | None = None


@dataclass(frozen=True, slots=True)
class Body:
    """The comment text above its marker, the result set it shows, and what had to be cut
    to make it fit (empty if nothing)."""

    text: str
    result_set: ResultSet
    cuts: tuple[str, ...]


def _cells(what: str, results: Results) -> list[CellResult]:
    cells: list[CellResult] = []
    if what in ("matrix", "all") and results.matrix is not None:
        cells += results.matrix.cells
    if what in ("bisect", "all") and results.bisect is not None:
        cells += [probe.cell for probe in results.bisect.probes if probe.cell]
    return cells


def result_set(what: str, results: Results) -> ResultSet:
    """What the comment shows and what it was measured with: the identity its marker keeps."""
    cells = _cells(what, results)
    scenarios = {cell.scenario for cell in cells}
    if what in ("bisect", "all") and results.bisect is not None:
        scenarios.add(results.bisect.scenario)
    return ResultSet(
        what=what,
        engines=tuple(sorted({cell.engine.version for cell in cells})),
        clis=tuple(sorted({cell.cli.version for cell in cells})),
        scenarios=tuple(sorted(scenarios)),
    )


def measured_line(identity: ResultSet) -> str:
    """Which engine and CLI the answer holds for: it may differ with either."""
    engines = ", ".join(identity.engines) or "unknown"
    clis = ", ".join(identity.clis) or "unknown"
    scenarios = ", ".join(identity.scenarios) or "unknown"
    plural = "s" if len(identity.scenarios) > 1 else ""
    return (
        f"Measured on Docker Engine {engines} with the docker CLI {clis} "
        f"(scenario{plural} {scenarios})."
    )


def failure_logs(cells: Sequence[CellResult]) -> list[Log]:
    """Each distinct reason cells failed or could not be installed, as the tool said it,
    with the cells it covers."""
    by_reason: dict[tuple[Verdict, str], list[CellResult]] = {}
    for cell in cells:
        if cell.verdict in _FAILED and cell.reason:
            by_reason.setdefault((cell.verdict, cell.reason.strip()), []).append(cell)
    logs = []
    for (verdict, reason), group in by_reason.items():
        versions = sorted({cell.compose for cell in group}, key=_version_key)
        count = f"{len(group)} cell{'s' if len(group) != 1 else ''}"
        title = f"Why {count} ended as `{verdict}` (compose {_listed(versions)}):"
        logs.append(Log(title, reason))
    return logs


def _before_details(sections: Sequence[Section], logs: Sequence[Log]) -> list[Section]:
    """The logs after the report's text and tables, above its collapsed environment."""
    end = len(sections)
    while end > 0 and isinstance(sections[end - 1], Details):
        end -= 1
    return [*sections[:end], *logs, *sections[end:]]


def _reproduce(commands: Sequence[str]) -> Text:
    text = "\n".join(commands)
    fence = fence_for(text)
    return Text(("**Reproduce:**", "", f"{fence}sh", text, fence))


def compose_body(
    what: str, results: Results, *, version: str, limit: int = GITHUB_COMMENT_LIMIT
) -> Body:
    """Headline, report, why cells failed, reproduce commands and the harness version,
    within ``limit`` once the marker is added."""
    if what not in WHATS:
        raise ValueError(f"what must be one of {WHATS}, got {what!r}")
    if limit < _MIN_LIMIT:
        raise ValueError(f"limit must be at least {_MIN_LIMIT}")
    identity = result_set(what, results)
    head = [HEADING, "", measured_line(identity)]
    sections: list[Section] = []
    reproduce: list[str] = []
    if what in ("bisect", "all"):
        if results.bisect is None:
            raise ValueError("bisect results are required")
        first, *details = bisect_headline(results.bisect)
        details += bisect_report.ends_advice(results.bisect)
        head += ["", f"**{first}**", *(f"- {line}" for line in details)]
        reproduce.append(results.bisect.reproduce)
        if what == "bisect":
            sections += bisect_report.markdown_sections(results.bisect)
    if what in ("matrix", "all"):
        if results.matrix is None:
            raise ValueError("matrix results are required")
        advice = results.matrix.what_to_do
        if advice:  # the comment leads with what to do
            head[3:3] = ["", WHAT_TO_DO_HEADING, "", *tables.advice_lines(advice)]
        head += ["", *(f"- {line}" for line in matrix_headline(results.matrix.cells))]
        reproduce.append(results.matrix.reproduce)
        led = tables.advice_sections(advice)  # already in the head
        sections += [s for s in tables.markdown_sections(results.matrix.cells) if s not in led]
    sections = _before_details(sections, failure_logs(_cells(what, results)))
    page = Page(
        head=tuple(head),
        sections=tuple(sections),
        tail=(
            _reproduce(reproduce),
            Text((f"<sub>Published by cache-bisect-harness {version}.</sub>",)),
        ),
        source=f"{'bisect' if what == 'bisect' else 'matrix'}.md in the results directory",
    )
    fitted = fit(page, limit - MARKER_ROOM)
    return Body(fitted.text, identity, fitted.cuts)
