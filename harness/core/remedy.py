"""A remedy as a result holds it: one line of what to do, and what the engine said when the
cell was run again with it (see :mod:`harness.core.remedies` for which are tried, and
:mod:`harness.app.remedies` for the runs). Pure; kept apart from the planning so the cell
result (``harness.core.model``) can hold remedies without importing the planner.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from harness.core.jsonform import OMIT_NONE


class RemedyVerdict(StrEnum):
    """What the engine said when the cell was run again with a remedy."""

    SHARES = "shares"
    MISSES = "misses"
    NOT_TRIED = "not-tried"


SHARES, MISSES, NOT_TRIED = RemedyVerdict.SHARES, RemedyVerdict.MISSES, RemedyVerdict.NOT_TRIED
REMEDY_VERDICTS = tuple(RemedyVerdict)


@dataclass(frozen=True)
class Remedy:
    """``remedy`` is the line a user acts on; ``verdict`` is ``shares`` (the two builds share
    the cache with it), ``misses`` (``diverged_at`` is where they still part, in ``stage``) or
    ``not-tried`` (``reason`` says why it cannot be tried here). ``builds`` and ``seconds``
    are what trying it cost (0 when its cell came from the store); ``changes`` names what the
    tried cell changed.
    """

    kind: str
    remedy: str
    verdict: RemedyVerdict
    builds: int = 0
    seconds: float = 0.0
    stored: bool = False
    changes: Mapping[str, str] = field(default_factory=dict)
    diverged_at: int | None = field(default=None, metadata=OMIT_NONE)
    reason: str | None = field(default=None, metadata=OMIT_NONE)
    # the stage of ``diverged_at`` (its name, else its index) in a multi-stage Dockerfile
    stage: str | None = field(default=None, metadata=OMIT_NONE)

    @property
    def helps(self) -> bool:
        return self.verdict == SHARES
