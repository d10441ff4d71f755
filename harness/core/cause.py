"""From context differences to what the search may change, and from its result to labels.

Not every difference is a separate thing to try: a file's size only changes with its content,
and a path whose type differs (or that one client did not send) is replaced whole. Paths the
engine strips before any step reads them (the Dockerfile and .dockerignore when .dockerignore
excludes them) cannot matter and are only informational. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from harness.core.minimise import MinimiseResult
from harness.core.tardiff import Difference

Change = tuple[str, str]  # (path, field): one difference the probe can apply

PROVEN = "proven"
NOT_A_CAUSE = "not-a-cause"
UNTESTED = "untested"
INFORMATIONAL = "informational"

# A field that differs only because another field of the same path does.
_FOLLOWS = {"size": "digest"}
# Fields whose change replaces the member whole: every other field of the path goes with it.
_WHOLE = ("present", "type")


@dataclass(frozen=True)
class Plan:
    """The changes to search over (in diff order), which difference rides on which change,
    and the differences that cannot matter."""

    changes: tuple[Change, ...]
    rides_on: Mapping[Change, Change]
    informational: frozenset[Change]


def plan(differences: Sequence[Difference], stripped: Iterable[str] = ()) -> Plan:
    """Group ``differences`` into changes; ``stripped`` paths are informational."""
    gone = set(stripped)
    by_path: dict[str, set[str]] = {}
    for difference in differences:
        by_path.setdefault(difference.path, set()).add(difference.field)
    changes: list[Change] = []
    rides_on: dict[Change, Change] = {}
    informational: set[Change] = set()
    for difference in differences:
        change = (difference.path, difference.field)
        fields = by_path[difference.path]
        whole = next((field for field in _WHOLE if field in fields), None)
        leader = _FOLLOWS.get(difference.field)
        if difference.path in gone:
            informational.add(change)
        elif whole is not None and whole != difference.field:
            rides_on[change] = (difference.path, whole)
        elif leader is not None and leader in fields:
            rides_on[change] = (difference.path, leader)
        else:
            changes.append(change)
    return Plan(tuple(changes), rides_on, frozenset(informational))


def labels(plan: Plan, result: MinimiseResult[Change] | None) -> dict[Change, str]:
    """Each difference's ``cause``: the search's label for its change (``untested`` without a
    search), or ``informational``."""
    found = {entry.item: entry.label for entry in result.classification} if result else {}
    out: dict[Change, str] = {change: found.get(change, UNTESTED) for change in plan.changes}
    for follower, leader in plan.rides_on.items():
        out[follower] = out[leader]
    for change in plan.informational:
        out[change] = INFORMATIONAL
    return out


def group_of(change: Change) -> str:
    """Differences that matter come in families ("every uid"): search by field first."""
    return change[1]
