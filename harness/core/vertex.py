"""A BuildKit vertex that is a Dockerfile step, named as BuildKit names it in every progress
form (``[builder 3/4] ADD ...``): one value whichever form the log took."""

from __future__ import annotations

import re
from dataclasses import dataclass

_NAME = re.compile(r"^\[(?:([^\]]*) )?(\d+)/(\d+)\] (.*)$")


@dataclass(frozen=True)
class Vertex:
    """A Dockerfile step vertex of BuildKit's progress: ``#7 [builder 3/4] ADD ...``.

    ``prefix`` is what comes before ``k/N`` (the stage's name, ``stage-<index>`` for an
    unnamed stage of several, and compose's own words before it; empty for one unnamed
    stage); ``index`` counts the stage's FROM and the steps that make a vertex."""

    prefix: str
    index: int
    total: int
    instruction: str
    cached: bool


def step_name(name: str) -> tuple[str, int, int, str] | None:
    """A vertex name's prefix, index, total and instruction; None for a vertex that is no
    Dockerfile step (``[internal] load build context``, ``exporting to image``)."""
    found = _NAME.match(name.strip())
    if found is None:
        return None
    prefix, index, total, text = found.groups()
    return prefix or "", int(index), int(total), text.strip()
