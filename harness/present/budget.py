"""Fitting a report into a size budget by its structure, in a stated order.

What a reader needs least goes first: collapsed blocks (the environment), then logs (why
cells failed), then table rows from the end, then the report's remaining prose from the end,
and last the headline's lines from the end. A part is dropped whole, so no cut ever lands
inside a code fence, a table row or a collapsed block, and every cut is named in the text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from harness.present.sections import Details, Log, Section, Table, Text, render

__all__ = ["Fitted", "Page", "fit", "github_length"]


def github_length(text: str) -> int:
    """An upper bound of how GitHub may count ``text`` against its comment limit.

    The documented limit is 65,536 characters. UTF-8 bytes plus one per newline (as if
    sent as CRLF) never under-counts characters, UTF-16 units or bytes, so a body within
    this budget is never rejected as too long, whichever way GitHub counts.
    """
    return len(text.encode("utf-8", "surrogatepass")) + text.count("\n")


@dataclass(frozen=True, slots=True)
class Page:
    """A body to fit: a headline kept longest, the report's sections, and a tail (how to
    reproduce, who published it) that is never cut."""

    head: tuple[str, ...]
    sections: tuple[Section, ...]
    tail: tuple[Section, ...]
    source: str  # where the full report is, named in the cut note


@dataclass(frozen=True, slots=True)
class Fitted:
    text: str
    cuts: tuple[str, ...]


def _text(page: Page, cuts: Sequence[str]) -> str:
    note: tuple[Section, ...] = ()
    if cuts:
        note = (
            Text(
                (
                    f"_Shortened to fit GitHub's comment size limit; cut: {'; '.join(cuts)}. "
                    f"The full report is {page.source}._",
                )
            ),
        )
    return render((Text(page.head), *page.sections, *note, *page.tail)).rstrip("\n")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun if number == 1 else noun + 's'}"


def _smallest(upper: int, ok: Callable[[int], bool]) -> int | None:
    """The smallest n in 1..upper with ok(n), ok being monotonic (False, ..., True)."""
    low, high, best = 1, upper, None
    while low <= high:
        middle = (low + high) // 2
        if ok(middle):
            best, high = middle, middle - 1
        else:
            low = middle + 1
    return best


def _drop_whole(
    page: Page, cuts: list[str], kind: type[Details] | type[Log], noun: str, fits: _Fits
) -> Page:
    """Drop the fewest sections of ``kind``, the last first, that make the page fit (all
    of them if it never does); the cut note names how many."""
    places = [n for n, section in enumerate(page.sections) if isinstance(section, kind)]

    def without(count: int) -> Page:
        gone = set(places[len(places) - count :])
        kept = (section for n, section in enumerate(page.sections) if n not in gone)
        return replace(page, sections=tuple(kept))

    if not places or fits(page, cuts):
        return page
    count = _smallest(len(places), lambda n: fits(without(n), [*cuts, _count(n, noun)])) or len(
        places
    )
    cuts.append(_count(count, noun))
    return without(count)


def _without_rows(page: Page, cut: int) -> Page:
    """``page`` with its last ``cut`` table rows gone (the last table's first)."""
    sections = list(page.sections)
    for place in reversed(range(len(sections))):
        section = sections[place]
        if cut <= 0 or not isinstance(section, Table):
            continue
        gone = min(cut, len(section.rows))
        sections[place] = replace(
            section, rows=section.rows[: len(section.rows) - gone], cut=section.cut + gone
        )
        cut -= gone
    return replace(page, sections=tuple(sections))


def _cut_rows(page: Page, cuts: list[str], fits: _Fits) -> Page:
    total = sum(len(s.rows) for s in page.sections if isinstance(s, Table))
    if total == 0 or fits(page, cuts):
        return page
    note = lambda n: [*cuts, _count(n, "table row")]  # noqa: E731
    fewest = _smallest(total, lambda n: fits(_without_rows(page, n), note(n))) or total
    cuts.append(_count(fewest, "table row"))
    return _without_rows(page, fewest)


def _cut_prose(page: Page, cuts: list[str], fits: _Fits) -> Page:
    """Drop the report's sections from the end, then the headline's lines from the end, and
    shorten a last headline line still too long (the headline holds no code fence)."""
    total = len(page.sections)

    def noted(kept: int) -> list[str]:
        gone = "the whole report" if kept == 0 else f"the last {_count(total - kept, 'part')}"
        return [*cuts, gone]

    kept = total
    while kept > 0 and not fits(replace(page, sections=page.sections[:kept]), noted(kept)):
        kept -= 1
    cuts[:] = noted(kept)
    page = replace(page, sections=page.sections[:kept])
    head = list(page.head)
    while len(head) > 1 and not fits(replace(page, head=tuple(head)), cuts):
        head.pop()
    last = head[-1]

    def shortened(n: int) -> Page:
        return replace(page, head=(*head[:-1], last[: len(last) - n] + " …"))

    if not fits(replace(page, head=tuple(head)), cuts):
        chars = _smallest(len(last), lambda n: fits(shortened(n), cuts))
        return shortened(chars if chars is not None else len(last))
    return replace(page, head=tuple(head))


_Fits = Callable[[Page, Sequence[str]], bool]


def fit(page: Page, budget: int) -> Fitted:
    """The page as markdown within ``budget`` (counted by ``github_length``), cut in
    the order the module names, each cut named in a note above the tail."""

    def fits(candidate: Page, cuts: Sequence[str]) -> bool:
        return github_length(_text(candidate, cuts)) <= budget

    cuts: list[str] = []
    if fits(page, cuts):
        return Fitted(_text(page, cuts), ())
    page = _drop_whole(page, cuts, Details, "collapsed section", fits)
    page = _drop_whole(page, cuts, Log, "log", fits)
    page = _cut_rows(page, cuts, fits)
    if not fits(page, cuts):
        page = _cut_prose(page, cuts, fits)
    text = _text(page, cuts)
    if github_length(text) > budget:
        raise ValueError(f"a budget of {budget} cannot hold even the headline and the tail")
    return Fitted(text, tuple(cuts))
