"""Dockerfile instructions as the legacy builder numbers them ("Step k/N").

The verdict names the first step that missed the cache, so we need the same numbering the
engine prints: one step per instruction, comments and blank lines ignored, backslash line
continuations joined.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CONTINUATION = re.compile(r"\\\s*$")
_DIRECTIVE = re.compile(r"^#\s*(escape|syntax)\s*=", re.IGNORECASE)


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction: its 1-based step number, keyword and full text."""

    step: int
    keyword: str
    text: str


def parse_instructions(source: str) -> list[Instruction]:
    """Split Dockerfile source into instructions numbered like the legacy builder's steps."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    for raw in source.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#") and not _DIRECTIVE.match(line):
            continue  # comments inside a continued instruction are dropped by the parser too
        if _CONTINUATION.search(line):
            pending.append(_CONTINUATION.sub("", line).strip())
            continue
        pending.append(line)
        text = " ".join(part for part in pending if part)
        pending = []
        keyword = text.split(None, 1)[0].upper()
        instructions.append(Instruction(len(instructions) + 1, keyword, text))
    if pending:
        text = " ".join(part for part in pending if part)
        instructions.append(
            Instruction(len(instructions) + 1, text.split(None, 1)[0].upper(), text)
        )
    return instructions


def replace_from(source: str, image: str) -> str:
    """Point the (single) FROM line at ``image``, keeping every other byte of the file.

    Each cell builds on a base image of its own so no cell can hit another cell's cache.
    """
    lines = source.splitlines(keepends=True)
    for index, line in enumerate(lines):
        stripped = line.lstrip()
        if stripped[:5].upper() == "FROM ":
            ending = "\n" if line.endswith("\n") else ""
            lines[index] = f"FROM {image}{ending}"
            return "".join(lines)
    raise ValueError("the Dockerfile has no FROM line")


def from_image(source: str) -> str:
    """The image the (first) FROM instruction names."""
    for instruction in parse_instructions(source):
        if instruction.keyword == "FROM":
            return instruction.text.split(None, 1)[1].split()[0] if " " in instruction.text else ""
    raise ValueError("the Dockerfile has no FROM line")
