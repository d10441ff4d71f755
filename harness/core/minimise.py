"""Pure delta debugging: which of the context differences make the diverged step hit the cache.

A cell diverged at some step: docker-compose's build missed the cache the CLI's build made (or
the reverse). :mod:`harness.core.tardiff` lists how the two build contexts differ for the files that
step reads ("blah.txt: uid 1000 vs 0", "blah.txt: uname 'dev' vs ''", ...). The driver can
*apply* any subset of those differences to the first builder's context and rebuild; the probe
answers "with this subset applied, does the step hit the other builder's cache?".
:func:`minimise` searches for a small subset that does, so the report can say which header
fields the builder's cache key really depends on instead of listing every difference.

The search is ``ddmin`` from Zeller & Hildebrandt, "Simplifying and Isolating Failure-Inducing
Input" (IEEE TSE 28(2), 2002), with the test outcome "hit" in the role of "fail": split the
current sufficient set into ``n`` parts; keep a part that hits on its own ("reduce to subset"),
else keep a complement that hits ("reduce to complement", ``n := max(n - 1, 2)``), else double
the granularity; stop when the granularity reached single elements and nothing could be removed.
The result is then *1-minimal*: it hits, and removing any one element misses.

Optionally the differences are first searched as whole groups (``group_of``, e.g. the field
name), then element by element inside the groups that survived: differences that matter tend to
come in families ("every uid"), so a few group probes can discard most of the list at once.
When few elements survive the groups (:data:`ONE_AT_A_TIME`), they are tried one at a time
(each complement) instead of halved, since most of them are likely to matter.

No I/O: the probe is the only contact with the world, and the search is deterministic, so the
same inputs and the same probe answers give the same probe sequence and the same result.

Probe counts (each distinct subset is probed at most once; the empty set is never probed,
since it is the original miss; ``probe(all)`` is the first probe and counts):

* worst case, any probe: ``1 + (n² + 7n) / 2`` for ``n`` differences (the paper's bound for
  ddmin, plus the initial probe of the full set); with groups, the group phase adds at most
  ``(g² + 7g) / 2`` for ``g`` groups;
* one cause (``probe(S) = c in S``), monotone: ``1 + 2·⌈log2 n⌉`` — each round probes the two
  halves, the second only when the first missed.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

__all__ = [
    "Classification",
    "Label",
    "MinimiseResult",
    "Status",
    "minimise",
]

T = TypeVar("T", bound=Hashable)

# After the group phase, this many elements or fewer are checked one at a time: the groups
# that survive usually matter whole (every uid of the files a COPY reads), and then ddmin's
# halving costs about twice the |M| probes that proving 1-minimality needs anyway.
ONE_AT_A_TIME = 8

Status = Literal["proven", "not-provable", "over-budget"]
"""How far the search got.

``proven``: :attr:`MinimiseResult.minimal` was probed and hit, and each set obtained by removing
one of its elements was probed (or, for the empty set, is the original miss) and missed, so it
is a 1-minimal sufficient set.

``not-provable``: even with every difference applied the step still missed (the first and only
probe), so no subset of these differences explains the miss; the cause is outside them.

``over-budget``: the probe budget ran out first. :attr:`MinimiseResult.minimal` is the smallest
set known to hit so far (it was probed and hit), but it may not be 1-minimal.
"""

Label = Literal["proven", "not-a-cause", "untested"]
"""What the probes run say about one difference; see :class:`Classification`."""


@dataclass(frozen=True)
class Classification(Generic[T]):
    """One difference's label and the probes that justify it (indices into
    :attr:`MinimiseResult.probes`).

    ``proven`` (only when the status is ``proven``): the difference is in the 1-minimal set
    ``M``. Evidence: ``(i, j)`` where probe ``i`` is ``M`` (hit) and probe ``j`` is ``M`` without
    this difference (miss); just ``(i,)`` when ``M`` is this difference alone, because then
    ``M`` without it is the empty set, the original miss. So *given the rest of M*, applying it
    turns a miss into a hit. (With several independent causes, another sufficient set may not
    contain it; the claim is about ``M``.)

    ``not-a-cause``: the difference is outside the final set and a probed set that *hit* did
    not contain it. Evidence: ``(i,)``, the first such probe (the final set's own probe always
    qualifies, since the final set is only ever a set that was probed and hit). So leaving this
    difference unapplied does not prevent the hit: it is not needed to explain the divergence.
    (For a non-monotone probe this does not mean it can never matter in other combinations.)

    ``untested``: no such evidence. Either the budget ran out while the difference was still
    in the current sufficient set (``over-budget``), or no probe ever hit (``not-provable``).
    Evidence: ``()``.
    """

    item: T
    label: Label
    evidence: tuple[int, ...]


@dataclass(frozen=True)
class MinimiseResult(Generic[T]):
    """The outcome of :func:`minimise`.

    ``minimal``: the final sufficient set, in input order (empty when ``not-provable``).
    ``probes``: every probe actually run, in order, with its outcome (``True`` = hit); no subset
    appears twice and the empty set never appears. ``classification``: one entry per
    difference, in input order. ``proven_groups``: with ``group_of``, once the group phase has
    finished, the groups (keys, in order of first appearance) left by it: applied whole they
    hit, and without any one of them they miss — a 1-minimal set of groups, which holds even
    when the budget runs out in the element phase; None otherwise.
    """

    minimal: tuple[T, ...]
    status: Status
    probes: tuple[tuple[frozenset[T], bool], ...]
    classification: tuple[Classification[T], ...]
    proven_groups: tuple[Hashable, ...] | None = None

    @property
    def probe_count(self) -> int:
        """Distinct probes run (the budget counts these)."""
        return len(self.probes)

    def label_of(self, item: T) -> Label:
        for entry in self.classification:
            if entry.item == item:
                return entry.label
        raise KeyError(item)


class _OverBudget(Exception):
    """A new probe was needed but the budget is spent."""


class _Search(Generic[T]):
    """One search's probe memo, log and current sufficient set."""

    def __init__(
        self, items: tuple[T, ...], probe: Callable[[frozenset[T]], bool], max_probes: int
    ) -> None:
        self.items = items
        self.position = {item: index for index, item in enumerate(items)}
        self.probe = probe
        self.max_probes = max_probes
        self.memo: dict[frozenset[T], bool] = {}
        self.log: list[tuple[frozenset[T], bool]] = []
        self.current: frozenset[T] = frozenset(items)  # sufficient once probe(all) has hit

    def hits(self, subset: frozenset[T]) -> bool:
        if not subset:
            return False  # the original miss: known, never probed
        known = self.memo.get(subset)
        if known is not None:
            return known
        if len(self.log) >= self.max_probes:
            raise _OverBudget
        outcome = bool(self.probe(subset))
        self.memo[subset] = outcome
        self.log.append((subset, outcome))
        return outcome

    def in_order(self, subset: frozenset[T]) -> tuple[T, ...]:
        return tuple(sorted(subset, key=self.position.__getitem__))

    def ddmin(self, units: list[tuple[T, ...]]) -> list[tuple[T, ...]]:
        """ddmin over ``units`` (each applied as a whole), whose union is known to hit.

        Returns units whose union hits and from which no single unit can be removed without
        missing. Every adopted reduction was probed and hit, and is recorded in ``current``
        before the next probe, so running out of budget leaves ``current`` sufficient.
        """
        granularity = 2
        while len(units) >= 2:
            parts = _split(units, granularity)
            reduced = self._reduce(parts)
            if reduced is not None:
                units, kept_part = reduced
                granularity = 2 if kept_part else max(granularity - 1, 2)
                self.current = _union(units)
            elif granularity < len(units):
                granularity = min(2 * granularity, len(units))
            else:
                break  # single units, none removable: 1-minimal over units
        return units

    def one_at_a_time(self, items: tuple[T, ...]) -> tuple[T, ...]:
        """Try removing each element in turn (its complement), keeping every removal that
        still hits, until a whole pass removes nothing: 1-minimal by definition, in
        ``len(items)`` probes when every element is needed."""
        current = list(items)
        changed = True
        while changed and len(current) > 1:
            changed = False
            for item in list(current):
                if len(current) == 1:
                    break
                rest = [other for other in current if other != item]
                if self.hits(frozenset(rest)):
                    current = rest
                    self.current = frozenset(current)
                    changed = True
        return tuple(current)

    def _reduce(self, parts: list[list[tuple[T, ...]]]) -> tuple[list[tuple[T, ...]], bool] | None:
        """The first part that hits alone, else the first complement that hits, else None;
        with True when it was a part ("reduce to subset")."""
        for part in parts:
            if self.hits(_union(part)):
                return part, True
        for skipped in range(len(parts)):
            complement = [
                unit for index, part in enumerate(parts) if index != skipped for unit in part
            ]
            if self.hits(_union(complement)):
                return complement, False
        return None


def _split(units: list[tuple[T, ...]], count: int) -> list[list[tuple[T, ...]]]:
    """``units`` in ``count`` contiguous, nonempty parts whose sizes differ by at most one."""
    size, extra = divmod(len(units), count)
    parts: list[list[tuple[T, ...]]] = []
    start = 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        parts.append(units[start:end])
        start = end
    return parts


def _union(units: Sequence[tuple[T, ...]]) -> frozenset[T]:
    return frozenset(item for unit in units for item in unit)


def minimise(
    differences: Sequence[T],
    probe: Callable[[frozenset[T]], bool],
    *,
    group_of: Callable[[T], Hashable] | None = None,
    max_probes: int = 100,
) -> MinimiseResult[T]:
    """A 1-minimal subset of ``differences`` that makes the step hit, found by ddmin.

    ``probe(subset)`` applies ``subset`` to the first builder's context, rebuilds, and says
    whether the diverged step hit the other builder's cache. ``probe(frozenset())`` is assumed
    False (it is the miss being explained) and is never called. ``group_of`` (optional) maps a
    difference to its group; groups, in order of first appearance, are minimised as wholes
    before the elements of the surviving groups. At most ``max_probes`` (>= 1) distinct subsets
    are probed. Differences must be distinct.
    """
    items = tuple(differences)
    if len(set(items)) != len(items):
        raise ValueError("differences must be distinct")
    if max_probes < 1:
        raise ValueError(f"max_probes must be at least 1, got {max_probes}")
    search = _Search(items, probe, max_probes)
    if not search.hits(frozenset(items)):
        return _result(search, "not-provable", frozenset())
    proven_groups: tuple[Hashable, ...] | None = None
    try:
        if group_of is not None:
            groups: dict[Hashable, list[T]] = {}
            for item in items:
                groups.setdefault(group_of(item), []).append(item)
            kept = search.ddmin([tuple(members) for members in groups.values()])
            survivors = {group_of(unit[0]) for unit in kept}
            proven_groups = tuple(key for key in groups if key in survivors)
        elements = search.in_order(search.current)
        if group_of is not None and len(elements) <= ONE_AT_A_TIME:
            search.one_at_a_time(elements)
        else:
            search.ddmin([(item,) for item in elements])
    except _OverBudget:
        return _result(search, "over-budget", search.current, proven_groups)
    return _result(search, "proven", search.current, proven_groups)


def _result(
    search: _Search[T],
    status: Status,
    final: frozenset[T],
    proven_groups: tuple[Hashable, ...] | None = None,
) -> MinimiseResult[T]:
    index_of = {subset: index for index, (subset, _) in enumerate(search.log)}
    hits = [(index, subset) for index, (subset, hit) in enumerate(search.log) if hit]
    classification: list[Classification[T]] = []
    for item in search.items:
        if status == "proven" and item in final:
            without = final - {item}
            evidence = (index_of[final],) + ((index_of[without],) if without else ())
            classification.append(Classification(item, "proven", evidence))
            continue
        witness = next((index for index, subset in hits if item not in subset), None)
        if witness is None:
            classification.append(Classification(item, "untested", ()))
        else:
            classification.append(Classification(item, "not-a-cause", (witness,)))
    return MinimiseResult(
        minimal=search.in_order(final),
        status=status,
        probes=tuple(search.log),
        classification=tuple(classification),
        proven_groups=proven_groups,
    )
