"""Per-step cache events read from a legacy-builder build log.

Both `docker build` (DOCKER_BUILDKIT=0) and docker-compose relay the engine's own progress
stream: ``Step k/N : INSTR`` then ``---> Using cache`` (on a hit) and ``---> <image id>``.
This is secondary evidence; the verdict itself comes from the image chain in the engine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_ARROW = re.compile(r"^\s*---> (.+?)\s*$")
_IMAGE_ID = re.compile(r"^[0-9a-f]{12,64}$")


@dataclass(frozen=True)
class StepEvent:
    """What the log says about one step: its text, whether it hit the cache, its image."""

    step: int
    total: int
    instruction: str
    cached: bool
    image: str | None


def parse_build_log(log: str) -> list[StepEvent]:
    """Extract one event per ``Step k/N`` header, in order."""
    events: list[StepEvent] = []
    current: dict[str, object] | None = None

    def close() -> None:
        if current is not None:
            events.append(StepEvent(**current))  # type: ignore[arg-type]

    for line in log.splitlines():
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
