"""A remedy as a result holds it: one line of what to do, and what the engine said when the
cell was run again with it (see :mod:`harness.core.remedies` for which are tried, and
:mod:`harness.app.remedies` for the runs). Pure; kept apart from the planning so the cell
result (``harness.core.model``) can hold remedies without importing the planner.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.core.errors import UserError

SHARES, MISSES, NOT_TRIED = "shares", "misses", "not-tried"
REMEDY_VERDICTS = (SHARES, MISSES, NOT_TRIED)


class RemedyFormatError(UserError):
    """A stored remedy does not have the shape of one; says which field."""


@dataclass(frozen=True)
class Remedy:
    """``remedy`` is the line a user acts on; ``verdict`` is ``shares`` (the two builds share
    the cache with it), ``misses`` (``diverged_at`` is where they still part) or ``not-tried``
    (``reason`` says why it cannot be tried here). ``builds`` and ``seconds`` are what trying it
    cost (0 when its cell came from the store); ``changes`` names what the tried cell changed.
    """

    kind: str
    remedy: str
    verdict: str
    builds: int = 0
    seconds: float = 0.0
    diverged_at: int | None = None
    stored: bool = False
    reason: str | None = None
    changes: Mapping[str, str] = field(default_factory=dict)

    @property
    def helps(self) -> bool:
        return self.verdict == SHARES

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": self.kind,
            "remedy": self.remedy,
            "verdict": self.verdict,
            "builds": self.builds,
            "seconds": self.seconds,
            "stored": self.stored,
            "changes": dict(self.changes),
        }
        if self.diverged_at is not None:
            data["diverged_at"] = self.diverged_at
        if self.reason is not None:
            data["reason"] = self.reason
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Remedy:
        verdict = str(data["verdict"])
        if verdict not in REMEDY_VERDICTS:
            known = ", ".join(REMEDY_VERDICTS)
            raise RemedyFormatError(f"field 'remedies.verdict' is {verdict!r} (known: {known})")
        at = data.get("diverged_at")
        reason = data.get("reason")
        return cls(
            kind=str(data["kind"]),
            remedy=str(data["remedy"]),
            verdict=verdict,
            builds=int(data.get("builds", 0)),
            seconds=float(data.get("seconds", 0.0)),
            diverged_at=int(at) if at is not None else None,
            stored=bool(data.get("stored", False)),
            reason=str(reason) if reason is not None else None,
            changes={str(k): str(v) for k, v in dict(data.get("changes", {})).items()},
        )
