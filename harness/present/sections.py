"""A markdown report as typed sections, so that whoever must shorten it cuts by structure.

The matrix and bisect reports are written to files whole; publish has to fit them into one
GitHub comment. Kept as sections (prose, a table, a log, a collapsed block) until the last
moment, a report can lose whole collapsed blocks, whole logs or table rows and never be cut
inside a code fence or a table.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tabulate import tabulate

__all__ = ["Details", "Log", "Section", "Table", "Text", "fence_for", "render"]


@dataclass(frozen=True, slots=True)
class Text:
    """Lines that are read together (a heading, a summary, a list)."""

    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Table:
    """A GitHub table; ``cut`` rows were dropped from its end, and it says so."""

    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    cut: int = 0


@dataclass(frozen=True, slots=True)
class Log:
    """Text shown verbatim under a title, in a code fence longer than any run of backticks
    in it, so nothing in the text can close the fence early."""

    title: str
    text: str


@dataclass(frozen=True, slots=True)
class Details:
    """A collapsed block: evidence a reader opens on purpose."""

    summary: str
    lines: tuple[str, ...]


Section = Text | Table | Log | Details


def fence_for(text: str) -> str:
    """A backtick fence longer than every run of backticks in ``text``."""
    longest, run = 0, 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    return "`" * max(3, longest + 1)


def _table(section: Table) -> str:
    text = tabulate(
        [list(row) for row in section.rows],
        headers=list(section.headers),
        tablefmt="github",
        disable_numparse=True,
    )
    if section.cut:
        rows = f"{section.cut} more row{'s' if section.cut != 1 else ''}"
        text += f"\n\n_… {rows} cut to fit the comment size limit._"
    return text


@functools.lru_cache(maxsize=64)  # a page being fitted renders its sections many times
def _one(section: Section) -> str:
    if isinstance(section, Text):
        return "\n".join(section.lines)
    if isinstance(section, Table):
        return _table(section)
    if isinstance(section, Log):
        fence = fence_for(section.text)
        return f"{section.title}\n\n{fence}text\n{section.text}\n{fence}"
    return "\n".join(
        [f"<details><summary>{section.summary}</summary>", "", *section.lines, "", "</details>"]
    )


def render(sections: Iterable[Section]) -> str:
    """The sections as markdown, a blank line between two, ending with a newline."""
    texts: Sequence[str] = [_one(section) for section in sections]
    return "\n\n".join(text for text in texts if text) + "\n"
