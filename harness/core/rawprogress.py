"""BuildKit's ``--progress=rawjson`` (buildx 0.13+; compose 2.x's ``--progress json`` for its
builds): one SolveStatus JSON object a line, ``{"vertexes": [{"digest", "name", "cached",
"started", "completed", ...}], "statuses": [...], "logs": [...]}``, a vertex sent again each
time it changes.

It carries the same cache bit BuildKit's plain progress prints as ``#7 CACHED`` (both come
from the vertex's ``Cached`` field), so a log in either form gives the same
:class:`~harness.core.vertex.Vertex` values. The harness keeps ``--progress=plain`` for the
builds it stores, since people read those logs; this reader makes a rawjson log count the
same where one is met.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from harness.core.vertex import Vertex, step_name


def is_rawjson(log: str) -> bool:
    """Whether the log holds SolveStatus lines (compose adds JSON lines of its own)."""
    return any("vertexes" in status for status in _statuses(log))


def parse_rawjson(log: str) -> list[Vertex]:
    """Every step vertex, in the order the log first names it (by digest, with the first
    name it was given), cached when any of its updates says so."""
    named: dict[str, tuple[str, int, int, str]] = {}
    cached: set[str] = set()
    for status in _statuses(log):
        for vertex in status.get("vertexes") or ():
            if not isinstance(vertex, Mapping):
                continue
            digest = str(vertex.get("digest", ""))
            step = step_name(str(vertex.get("name", "")))
            if step is not None and digest not in named:
                named[digest] = step
            if vertex.get("cached") is True:
                cached.add(digest)
    return [Vertex(*step, digest in cached) for digest, step in named.items()]


def _statuses(log: str) -> Iterator[Mapping[str, Any]]:
    """Each line that is a JSON object; other lines (a CLI's warning) are passed over."""
    for line in log.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            status = json.loads(line)
        except ValueError:
            continue
        if isinstance(status, Mapping):
            yield status
