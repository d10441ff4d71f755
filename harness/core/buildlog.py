"""Per-step cache events read from a build log.

Both `docker build` (DOCKER_BUILDKIT=0) and docker-compose relay the engine's own progress
stream: ``Step k/N : INSTR`` then ``---> Using cache`` (on a hit) and ``---> <image id>``.
BuildKit's plain progress names a vertex ``#7 [test 3/4] ADD ...`` and later ``#7 CACHED``
(its rawjson form is read too: :mod:`harness.core.rawprogress`).
This is secondary evidence; the verdict itself comes from the engine's image records.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.core.rawprogress import is_rawjson, parse_rawjson
from harness.core.vertex import Vertex, step_name

_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # the CLI colours the parser's warnings before step 1
_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_ARROW = re.compile(r"^\s*---> (.+?)\s*$")
_IMAGE_ID = re.compile(r"^[0-9a-f]{12,64}$")
_VERTEX = re.compile(r"^#(\d+) (\[.*)$")
_VERTEX_CACHED = re.compile(r"^#(\d+) CACHED\s*$")


@dataclass(frozen=True)
class StepEvent:
    """What the log says about one step: its text, whether it hit the cache, its image."""

    step: int
    total: int
    instruction: str
    cached: bool
    image: str | None


def builder_seen(log: str) -> str | None:
    """The builder a build log shows it used: ``legacy`` (``Step k/N`` lines) or
    ``buildkit`` (``#N`` vertices); None when the log shows neither (the build failed early)."""
    if _parse_legacy(log):
        return "legacy"
    clean = _ANSI.sub("", log)
    vertices = re.search(r"^#\d+ ", clean, re.MULTILINE) or is_rawjson(log)
    return "buildkit" if vertices else None


def parse_build_log(log: str) -> list[StepEvent]:
    """Extract one event per ``Step k/N`` header, in order (BuildKit vertices if none)."""
    legacy = _parse_legacy(log)
    return legacy or parse_buildkit_log(log)


def parse_vertices(log: str) -> list[Vertex]:
    """Every step vertex, in the order the log first names it, with whether it was CACHED;
    a rawjson log (:mod:`harness.core.rawprogress`) gives the same values."""
    if is_rawjson(log):
        return parse_rawjson(log)
    found: dict[str, tuple[str, int, int, str]] = {}
    cached: set[str] = set()
    for line in _ANSI.sub("", log).splitlines():
        line = line.strip()
        vertex = _VERTEX.match(line)
        step = step_name(vertex.group(2)) if vertex else None
        if vertex and step and vertex.group(1) not in found:
            found[vertex.group(1)] = step
        elif hit := _VERTEX_CACHED.match(line):
            cached.add(hit.group(1))
    return [Vertex(*facts, number in cached) for number, facts in found.items()]


def parse_buildkit_log(log: str) -> list[StepEvent]:
    """One event per Dockerfile step vertex of BuildKit's plain progress, by step number."""
    events = [
        StepEvent(v.index, v.total, v.instruction, v.cached, None) for v in parse_vertices(log)
    ]
    return sorted(events, key=lambda event: event.step)


def _parse_legacy(log: str) -> list[StepEvent]:
    events: list[StepEvent] = []
    current: dict[str, object] | None = None

    def close() -> None:
        if current is not None:
            events.append(StepEvent(**current))  # type: ignore[arg-type]

    for line in _ANSI.sub("", log).splitlines():
        header = _STEP.match(line.strip())
        if header:
            close()
            current = {
                "step": int(header.group(1)),
                "total": int(header.group(2)),
                "instruction": header.group(3).strip(),
                "cached": False,
                "image": None,
            }
            continue
        arrow = _ARROW.match(line)
        if current is None or not arrow:
            continue
        value = arrow.group(1)
        if value == "Using cache":
            current["cached"] = True
        elif _IMAGE_ID.match(value):
            current["image"] = value
    close()
    return events
