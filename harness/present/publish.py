"""Assembly of the issue comment that publishes matrix / bisect results.

Turns result data into a headline a reader can act on ("which compose versions share the
cache"), wraps the already-rendered markdown report, and guarantees the body fits GitHub's
comment limit by cutting the least important parts first and saying what was cut. No I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from packaging.version import InvalidVersion, Version

from harness.core.model import CellResult, Verdict
from harness.core.report import BisectReport, MatrixDocument
from harness.present.words import PREDICATES, behaviour_text, culprit_sentence


class _Authored(Protocol):
    @property
    def login(self) -> str: ...

    @property
    def body(self) -> str: ...

    @property
    def bot(self) -> bool: ...


Comment = TypeVar("Comment", bound=_Authored)

__all__ = [
    "GITHUB_COMMENT_LIMIT",
    "HEADING",
    "WHATS",
    "Body",
    "Results",
    "bisect_headline",
    "compose_body",
    "find_own_comment",
    "github_length",
    "marker",
    "matrix_headline",
    "signed",
]

GITHUB_COMMENT_LIMIT = 65_536
WHATS = ("matrix", "bisect", "all")
MATRIX_REPRODUCE = "nox -s matrix"
HEADING = "## Does `docker compose build` share the layer cache with `docker build`?"
_MIN_LIMIT = 1_024  # room for the marker, the footer and the cut notes
_INSTRUCTION_WIDTH = 30
_MAX_LISTED = 8
RANGE_DASH = "\u2013"  # en dash, as typeset ranges use

_DETAILS = re.compile(r"<details\b[^>]*>.*?</details>", re.S | re.I)
_SUMMARY = re.compile(r"<summary\b[^>]*>(.*?)</summary>", re.S | re.I)
_TAG = re.compile(r"<[^>]+>")
_TABLE_SEPARATOR = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_AUTHOR = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}(?:\[bot\])?")
_AUTHOR_ROOM = len(" by=") + 39 + len("[bot]")  # the longest login GitHub gives


def marker(what: str, author: str | None = None) -> str:
    """Hidden last line that lets a later run find (and update) this kind of comment.

    ``author`` is the login that posted it, recorded so that a later run can tell its own
    comment without knowing its login (an app token may not read ``/user``).
    """
    by = f" by={author}" if author else ""
    return f"<!-- cache-bisect-harness:publish:{what}{by} -->"


def signed(text: str, what: str, author: str | None) -> str:
    """The body ``text`` with its marker naming ``author`` (unsigned if not a login)."""
    head, _, last = text.rstrip("\n").rpartition("\n")
    if last != marker(what):
        raise ValueError("the body does not end with its marker")
    if author is None or not _AUTHOR.fullmatch(author):
        return text
    return f"{head}\n{marker(what, author)}"


def github_length(text: str) -> int:
    """An upper bound of how GitHub may count ``text`` against its comment limit.

    The documented limit is 65,536 characters. UTF-8 bytes plus one per newline (as if
    sent as CRLF) never under-counts characters, UTF-16 units or bytes, so a body within
    this budget is never rejected as too long, whichever way GitHub counts.
    """
    return len(text.encode("utf-8")) + text.count("\n")


def find_own_comment(comments: Iterable[Comment], login: str | None, what: str) -> Comment | None:
    """The newest comment this tool posted for ``what``: never a person's comment.

    Ours ends with our marker as its last line, outside any code block; a signed marker
    must name the comment's own author. With the token's ``login`` known the author must be
    it; unknown (an app token that cannot read ``/user``), only a signed comment by a bot
    (an app or Actions, never a person) counts. A quoted or copied marker never matches.
    """
    found = None
    for comment in comments:
        author = _marked_by(comment.body, what)
        if author is None:
            continue
        if author and author != comment.login:
            continue
        if comment.login == login if login is not None else (author and comment.bot):
            found = comment
    return found


def _marked_by(body: str, what: str) -> str | None:
    """The author a trailing marker records ("" if unsigned), or None if there is none."""
    lines = body.rstrip().splitlines()
    if not lines:
        return None
    last = lines[-1].rstrip()
    fence = ""
    for line in lines[:-1]:
        opened = _FENCE.match(line)
        if opened and not fence:
            fence = opened.group(1)
        elif opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
            fence = ""
    if fence:
        return None
    if last == marker(what):
        return ""
    prefix, suffix = marker(what)[: -len(" -->")] + " by=", " -->"
    if last.startswith(prefix) and last.endswith(suffix):
        author = last[len(prefix) : -len(suffix)]
        return author if _AUTHOR.fullmatch(author) else None
    return None


# -- headlines ---------------------------------------------------------------------------

_CLI_BUILD_ORDER = {"default": 0, "0": 1, "1": 2}


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What one compose version did under one condition; equal outcomes form a run."""

    verdict: str
    step: int | None = None
    instruction: str | None = None
    mixed: tuple[str, ...] = ()


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
    if outcome.mixed:
        verb = "give" if plural else "gives"
        return f"{verb} mixed verdicts ({'/'.join(outcome.mixed)})", cache_named
    forms = PREDICATES.get(Verdict(outcome.verdict)) if outcome.verdict in set(Verdict) else None
    if forms is None:
        verb = "end" if plural else "ends"
        return f"{verb} with verdict {outcome.verdict!r}", cache_named
    text = forms[plural]
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
            outcome = _Outcome("mixed", mixed=tuple(sorted({o.verdict for o in outcomes})))
        if runs and runs[-1][3] == outcome:
            first, _, count, _ = runs[-1]
            runs[-1] = (first, version, count + 1, outcome)
        else:
            runs.append((version, version, 1, outcome))
    parts, cache_named = [], False
    for first, last, count, outcome in runs:
        span = first if count == 1 else f"{first}{RANGE_DASH}{last}"
        text, cache_named = _predicate(outcome, count > 1, cache_named)
        parts.append(f"{span} {text}")
    return "compose " + ", ".join(parts)


def matrix_headline(cells: Sequence[CellResult]) -> list[str]:
    """One line per condition (scenario, builder, cli_build): runs of compose versions, PEP 440
    order.

    e.g. "cli_build=default: compose 1.19.0-1.24.1 miss the cache at step 3 (`ADD …`),
    1.25.5-1.29.2 share it" (with an en dash in each range).
    """
    conditions: dict[tuple[str, str, str], dict[str, set[_Outcome]]] = {}
    for cell in cells:
        key = (cell.scenario, str(cell.builders), cell.cli_build)
        versions = conditions.setdefault(key, {})
        versions.setdefault(cell.compose, set()).add(_outcome(cell))
    if not conditions:
        return ["matrix.json holds no cells"]
    several_scenarios = len({scenario for scenario, _, _ in conditions}) > 1
    several_builders = len({builder for _, builder, _ in conditions}) > 1
    lines = []
    for scenario, builder, cli_build in sorted(
        conditions,
        key=lambda c: (c[0], c[1] != "legacy", c[1], _CLI_BUILD_ORDER.get(c[2], 3), c[2]),
    ):
        label = f"cli_build={cli_build}"
        if several_builders:
            label = f"builder={builder}, {label}"
        if several_scenarios:
            label = f"{scenario}, {label}"
        summary = _summarise_condition(conditions[(scenario, builder, cli_build)])
        lines.append(f"{label}: {summary}")
    return lines


def _listed(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_MAX_LISTED])
    more = len(items) - _MAX_LISTED
    return f"{shown} and {more} more" if more > 0 else shown


def bisect_headline(bisect: BisectReport) -> list[str]:
    """The bisect answer first, then supporting detail lines (culprit, compare link)."""
    package, status = bisect.package, bisect.status
    old, new = bisect.old_verdict, bisect.new_verdict
    last_old, first_new = bisect.last_old, bisect.first_new
    low, high = bisect.low, bisect.high
    details: list[str] = []
    if status == "found":
        head = f"First change: {package} {last_old} → {first_new} ({old} → {new})"
    elif status == "no-change":
        head = f"No change: {package} {low} and {high} behave the same ({old})"
    elif status == "ambiguous":
        head = (
            f"Ambiguous: the change ({old} → {new}) lies between {package} {last_old} "
            f"and {first_new}, where versions could not be tested"
        )
        if bisect.candidates:
            details.append(f"Candidates: {_listed(bisect.candidates)}")
    elif status == "flaky":
        head = (
            f"Flaky: repeated runs disagreed, so {package} {low}{RANGE_DASH}{high} "
            "has no clear answer"
        )
        unsteady = [
            f"{p.version} ({behaviour_text(p.verdict)} {p.runs})"
            for p in bisect.probes
            if _disagrees(p.runs)
        ]
        if unsteady:
            details.append(f"Unsteady probes: {_listed(unsteady)}")
    elif status == "error":
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
    """Result files as loaded by the caller; only those ``what`` needs must be present."""

    matrix: MatrixDocument | None = None
    matrix_md: str | None = None
    bisect: BisectReport | None = None
    bisect_md: str | None = None


@dataclass(frozen=True, slots=True)
class Body:
    """The comment text, and what had to be cut to make it fit (empty if nothing)."""

    text: str
    cuts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Parts:
    headline: str
    report: str
    reproduce: tuple[str, ...]
    version: str
    marker: str
    source: str


def compose_body(
    what: str, results: Results, *, version: str, limit: int = GITHUB_COMMENT_LIMIT
) -> Body:
    """Headline, report, reproduce commands, harness version and marker, within ``limit``."""
    if what not in WHATS:
        raise ValueError(f"what must be one of {WHATS}, got {what!r}")
    blocks: list[str] = []
    reproduce: list[str] = []
    if what in ("bisect", "all"):
        if results.bisect is None:
            raise ValueError("bisect results are required")
        head, *details = bisect_headline(results.bisect)
        blocks.append("\n".join([f"**{head}**", *(f"- {line}" for line in details)]))
        reproduce.append(results.bisect.reproduce)
    if what in ("matrix", "all"):
        if results.matrix is None or results.matrix_md is None:
            raise ValueError("matrix results are required")
        blocks.append("\n".join(f"- {line}" for line in matrix_headline(results.matrix.cells)))
        reproduce.append(results.matrix.reproduce)
    if what == "bisect":
        report, source = results.bisect_md or "", "bisect.md"
    else:
        report, source = results.matrix_md or "", "matrix.md"
    parts = _Parts(
        headline="\n\n".join([HEADING, *blocks]),
        report=report,
        reproduce=tuple(reproduce),
        version=version,
        marker=marker(what),
        source=source,
    )
    return _fit(parts, limit)


def _reproduce_block(commands: Sequence[str]) -> str:
    if not commands:
        return ""
    text = "\n".join(commands)
    fence = "```"
    while fence in text:
        fence += "`"
    return f"**Reproduce:**\n\n{fence}sh\n{text}\n{fence}"


def _render(parts: _Parts, report: str, cuts: Sequence[str]) -> str:
    sections = [parts.headline, report.strip("\n"), _reproduce_block(parts.reproduce)]
    if cuts:
        sections.append(
            f"_Shortened to fit GitHub's comment size limit; cut: {'; '.join(cuts)}. "
            f"The full report is {parts.source} in the results directory._"
        )
    sections.append(f"<sub>Published by cache-bisect-harness {parts.version}.</sub>")
    sections.append(parts.marker)
    return "\n\n".join(section for section in sections if section)


def _fit(parts: _Parts, limit: int) -> Body:
    """Cut in order of least importance: <details> blocks, table rows, report tail, rest."""
    if limit < _MIN_LIMIT:
        raise ValueError(f"limit must be at least {_MIN_LIMIT}")

    def fits(report: str, cuts: Sequence[str]) -> bool:
        return github_length(_render(parts, report, cuts)) + _AUTHOR_ROOM <= limit

    report, cuts = parts.report, list[str]()
    if fits(report, cuts):
        return Body(_render(parts, report, cuts), ())

    report, dropped = _drop_details(report, lambda r, n: fits(r, [*cuts, _details_cut(n)]))
    if dropped:
        cuts.append(_details_cut(dropped))
        if fits(report, cuts):
            return Body(_render(parts, report, cuts), tuple(cuts))

    report, rows = _cut_table_rows(report, lambda r, n: fits(r, [*cuts, _rows(n)]))
    if rows:
        cuts.append(_rows(rows))
        if fits(report, cuts):
            return Body(_render(parts, report, cuts), tuple(cuts))

    lines = report.splitlines()
    kept = _largest(len(lines) - 1, lambda n: fits(_truncated(lines, n), [*cuts, _tail(n)]))
    if kept is not None:
        cuts.append(_tail(kept))
        report = _truncated(lines, kept)
        return Body(_render(parts, report, cuts), tuple(cuts))

    cuts.append("the whole report")
    return Body(_hard_cut(_render(parts, "", cuts), parts.marker, limit), tuple(cuts))


def _details_cut(count: int) -> str:
    return f"{count} collapsed section{'s' if count != 1 else ''}"  # no raw tag: it would render


def _rows(count: int) -> str:
    return f"{count} table row{'s' if count != 1 else ''}"


def _tail(kept: int) -> str:
    return f"the report after line {kept}"


def _truncated(lines: Sequence[str], kept: int) -> str:
    return "\n".join([*lines[:kept], "", f"_… {_tail(kept)} cut (comment size limit)._"])


def _largest(upper: int, ok: Callable[[int], bool]) -> int | None:
    """Largest n in 0..upper with ok(n), assuming ok is monotonic (True, ..., False)."""
    low, high, best = 0, upper, None
    while low <= high:
        mid = (low + high) // 2
        if ok(mid):
            best, low = mid, mid + 1
        else:
            high = mid - 1
    return best


def _drop_details(report: str, fits: Callable[[str, int], bool]) -> tuple[str, int]:
    """Replace <details> blocks, last first, with a one-line stub until the body fits."""
    dropped = 0
    while not fits(report, dropped):
        blocks = list(_DETAILS.finditer(report))
        if not blocks:
            break
        block = blocks[-1]
        summary_match = _SUMMARY.search(block.group(0))
        summary = _TAG.sub("", summary_match.group(1)).strip() if summary_match else ""
        stub = f"_({summary or 'details'}: cut to fit the comment size limit)_"
        report = report[: block.start()] + stub + report[block.end() :]
        dropped += 1
    return report, dropped


def _table_rows(lines: Sequence[str]) -> list[list[int]]:
    """Indices of each markdown table's data rows (lines after the header separator)."""
    tables: list[list[int]] = []
    index = 1
    while index < len(lines):
        line = lines[index]
        if (
            "|" in line
            and _TABLE_SEPARATOR.match(line)
            and lines[index - 1].lstrip().startswith("|")
        ):
            rows = []
            index += 1
            while index < len(lines) and lines[index].lstrip().startswith("|"):
                rows.append(index)
                index += 1
            tables.append(rows)
        else:
            index += 1
    return tables


def _without_rows(lines: Sequence[str], tables: Sequence[Sequence[int]], cut: int) -> str:
    """The report with the last ``cut`` data rows removed and a note under each cut table."""
    flat = [row for rows in tables for row in rows]
    removed = set(flat[len(flat) - cut :])
    notes: dict[int, int] = {}  # last row index of a table -> rows cut from it
    for rows in tables:
        gone = sum(1 for row in rows if row in removed)
        if gone:
            notes[rows[-1]] = gone
    out: list[str] = []
    for index, line in enumerate(lines):
        if index not in removed:
            out.append(line)
        if index in notes:
            out += ["", f"_… {notes[index]} more rows cut to fit the comment size limit._"]
            if index + 1 < len(lines) and lines[index + 1].strip():
                out.append("")
    return "\n".join(out)


def _cut_table_rows(report: str, fits: Callable[[str, int], bool]) -> tuple[str, int]:
    """Cut the fewest table rows, from the end, that make the body fit (or all of them)."""
    lines = report.splitlines()
    tables = _table_rows(lines)
    total = sum(len(rows) for rows in tables)
    if total == 0:
        return report, 0
    low, high = 1, total
    while low < high:
        mid = (low + high) // 2
        if fits(_without_rows(lines, tables, mid), mid):
            high = mid
        else:
            low = mid + 1
    return _without_rows(lines, tables, low), low


def _hard_cut(text: str, mark: str, limit: int) -> str:
    """Last resort for an oversized headline: truncate, keeping the marker last."""
    head = text[: -len(mark)].rstrip()
    note = "\n\n_… cut to fit the comment size limit._\n\n"
    budget = limit - _AUTHOR_ROOM
    keep = _largest(len(head), lambda n: github_length(head[:n] + note + mark) <= budget) or 0
    return head[:keep] + note + mark
