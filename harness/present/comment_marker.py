"""The hidden last line of a published comment: which result set it shows, who posted it,
and a digest proving the text above it is the harness's.

A later run edits or removes only a comment whose marker it can check: the digest must match
the text above the marker, so a person's comment that copies or quotes a marker, or a
harness comment a person has since edited, is never touched. The result set (what was
published, the engines, the CLIs, the scenarios) keeps two result sets on one issue apart.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from harness.present.budget import github_length

__all__ = [
    "MARKER_ROOM",
    "ResultSet",
    "find_own_comments",
    "signed",
]

_PREFIX = "<!-- cache-bisect-harness:publish:"
_AUTHOR = r"[A-Za-z0-9][A-Za-z0-9-]{0,38}(?:\[bot\])?"
_MARKER = re.compile(
    re.escape(_PREFIX)
    + r"(?P<what>[a-z]+) set=(?P<set>[0-9a-f]{16})"
    + rf"(?: by=(?P<by>{_AUTHOR}))? sha256=(?P<digest>[0-9a-f]{{64}}) -->"
)
_LOGIN = re.compile(_AUTHOR)
_OPENING = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_CLOSING = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*$")  # "```sh" opens; only a bare fence closes
_LONGEST_LOGIN = "a" * 39 + "[bot]"


@dataclass(frozen=True, slots=True)
class ResultSet:
    """What one comment shows: the kind of report and what it was measured with."""

    what: str
    engines: tuple[str, ...]
    clis: tuple[str, ...]
    scenarios: tuple[str, ...]

    @property
    def key(self) -> str:
        """A short digest of the identity: equal for a rerun of the same set, different
        for the same matrix against another CLI or engine."""
        identity = json.dumps(
            [self.what, sorted(self.engines), sorted(self.clis), sorted(self.scenarios)]
        )
        return hashlib.sha256(identity.encode()).hexdigest()[:16]


def _normal(text: str) -> str:
    """The text as a digest sees it: GitHub may hand back CRLF line ends and trailing space."""
    return text.replace("\r\n", "\n").rstrip()


def _digest(what: str, key: str, author: str, text: str) -> str:
    covered = f"{what}\n{key}\n{author}\n{_normal(text)}"
    return hashlib.sha256(covered.encode("utf-8", "surrogatepass")).hexdigest()


def _marker(result_set: ResultSet, author: str, text: str) -> str:
    by = f" by={author}" if author else ""
    digest = _digest(result_set.what, result_set.key, author, text)
    return f"{_PREFIX}{result_set.what} set={result_set.key}{by} sha256={digest} -->"


MARKER_ROOM = github_length(
    "\n\n" + _marker(ResultSet("matrix", (), (), ()), _LONGEST_LOGIN, "")
)  # the most a marker adds to a body, as GitHub may count it: for the longest login it gives


def signed(text: str, result_set: ResultSet, author: str | None) -> str:
    """``text`` with its marker as the last line, naming ``author`` when it is a login."""
    who = author if author is not None and _LOGIN.fullmatch(author) else ""
    return f"{_normal(text)}\n\n{_marker(result_set, who, text)}"


class _Authored(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def login(self) -> str: ...

    @property
    def body(self) -> str: ...

    @property
    def bot(self) -> bool: ...


Comment = TypeVar("Comment", bound=_Authored)


def find_own_comments(
    comments: Iterable[Comment], login: str | None, result_set: ResultSet
) -> list[Comment]:
    """The comments this tool posted for ``result_set``, oldest first; never a person's.

    Ours ends with a marker for this set, outside any code block, whose digest matches the
    text above it; a signed marker names the comment's own author. With the token's
    ``login`` known the author must be it; unknown (an app token that cannot read
    ``/user``), only a signed comment by a bot (an app or Actions, never a person) counts.
    """
    own = []
    for comment in comments:
        author = _proven_author(comment.body, result_set)
        if author is None or (author and author != comment.login):
            continue
        if comment.login == login if login is not None else (author and comment.bot):
            own.append(comment)
    return sorted(own, key=lambda comment: comment.id)


def _proven_author(body: str, result_set: ResultSet) -> str | None:
    """The author a valid trailing marker of ``result_set`` records ("" if unsigned), or
    None when there is no such marker or the text above it is not what it was signed for."""
    lines = _normal(body).split("\n")
    last = lines[-1]  # an indented marker is in a code block
    match = _MARKER.fullmatch(last)
    if match is None or _inside_fence(lines[:-1]):
        return None
    if (match["what"], match["set"]) != (result_set.what, result_set.key):
        return None
    author = match["by"] or ""
    above = "\n".join(lines[:-1])
    if match["digest"] != _digest(result_set.what, result_set.key, author, above):
        return None
    return author


def _inside_fence(lines: Sequence[str]) -> bool:
    """Whether a fenced code block is still open after ``lines``, quoting what follows."""
    fence = ""
    for line in lines:
        if not fence:
            opened = _OPENING.match(line)
            fence = opened.group(1) if opened else ""
            continue
        closed = _CLOSING.match(line)
        if closed and closed.group(1)[0] == fence[0] and len(closed.group(1)) >= len(fence):
            fence = ""
    return bool(fence)
