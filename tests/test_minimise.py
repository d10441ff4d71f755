"""Property and example tests for the ddmin search of harness.core.minimise (pure, no engine):
minimality, the probe-count bounds, determinism and the budget."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Hashable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.core.minimise import MinimiseResult, minimise
from harness.core.tardiff import Difference

Probe = Callable[[frozenset[int]], bool]
UNLIMITED = 10**6


class CountingProbe:
    """Wraps a probe: counts calls and fails on the empty set (the known original miss)."""

    def __init__(self, probe: Callable[[frozenset[int]], bool]) -> None:
        self.probe = probe
        self.calls: list[frozenset[int]] = []

    def __call__(self, subset: frozenset[int]) -> bool:
        assert subset, "the empty set must never be probed"
        self.calls.append(subset)
        return self.probe(subset)


def conjunction(cause: frozenset[int]) -> Probe:
    return lambda subset: cause <= subset


def any_of(causes: list[frozenset[int]]) -> Probe:
    return lambda subset: any(cause <= subset for cause in causes)


def random_predicate(seed: int, items: tuple[int, ...], force_all: bool) -> Probe:
    """A fixed but arbitrary (non-monotone) function of the subset; hits for the full set when
    ``force_all``."""
    full = frozenset(items)

    def probe(subset: frozenset[int]) -> bool:
        if force_all and subset == full:
            return True
        return random.Random(f"{seed}:{sorted(subset)}").random() < 0.4

    return probe


def paper_bound(n: int) -> int:
    """ddmin's worst case (n² + 7n) / 2 (Zeller & Hildebrandt 2002), plus probe(all)."""
    return 1 + (n * n + 7 * n) // 2


def check_invariants(
    items: tuple[int, ...], probe: Probe, result: MinimiseResult[int], max_probes: int
) -> None:
    """What must hold for every probe, monotone or not."""
    subsets = [subset for subset, _ in result.probes]
    assert all(subsets), "no probe of the empty set"
    assert len(set(subsets)) == len(subsets), "memoised: no subset probed twice"
    assert len(result.probes) <= max_probes, "budget respected"
    for subset, outcome in result.probes:
        assert probe(subset) == outcome
    assert list(result.minimal) == [item for item in items if item in set(result.minimal)]
    assert [entry.item for entry in result.classification] == list(items)
    labels = {entry.item: entry.label for entry in result.classification}
    minimal = frozenset(result.minimal)

    if result.status == "not-provable":
        assert result.probes == ((frozenset(items), False),) or (not items and not result.probes)
        assert result.minimal == ()
        assert set(labels.values()) <= {"untested"}
        return

    assert result.probes[0] == (frozenset(items), True), "probe(all) comes first"
    assert probe(minimal), "the result hits"
    if result.status == "proven":
        for item in minimal:  # 1-minimal, checked outside the search (∅ is the known miss)
            if minimal - {item}:
                assert not probe(minimal - {item})
        assert {item for item, label in labels.items() if label == "proven"} == minimal
        assert {item for item, label in labels.items() if label == "not-a-cause"} == (
            set(items) - minimal
        )
    else:
        assert result.status == "over-budget"
        assert len(result.probes) == max_probes, "over budget only when the budget is spent"
        assert {item for item, label in labels.items() if label == "untested"} == minimal
        assert {item for item, label in labels.items() if label == "not-a-cause"} == (
            set(items) - minimal
        )

    for entry in result.classification:  # the evidence really says what the label claims
        if entry.label == "proven":
            assert result.probes[entry.evidence[0]] == (minimal, True)
            if len(minimal) == 1:
                assert entry.evidence == entry.evidence[:1]
            else:
                assert result.probes[entry.evidence[1]] == (minimal - {entry.item}, False)
        elif entry.label == "not-a-cause":
            (index,) = entry.evidence
            subset, outcome = result.probes[index]
            assert outcome and entry.item not in subset
        else:
            assert entry.evidence == ()


@st.composite
def items_and_cause(draw: st.DrawFn, max_n: int = 16) -> tuple[tuple[int, ...], frozenset[int]]:
    n = draw(st.integers(1, max_n))
    items = tuple(draw(st.permutations(range(n))))
    cause = frozenset(draw(st.sets(st.sampled_from(items), min_size=1, max_size=min(n, 4))))
    return items, cause


groupers: list[Callable[[int], Hashable] | None] = [None, lambda item: item % 3]
grouping = st.sampled_from(groupers)


@settings(max_examples=300, deadline=None)
@given(items_and_cause(), grouping)
def test_monotone_conjunction_finds_exactly_the_cause(
    case: tuple[tuple[int, ...], frozenset[int]], group_of: Callable[[int], Hashable] | None
) -> None:
    items, cause = case
    probe = CountingProbe(conjunction(cause))
    result = minimise(items, probe, group_of=group_of, max_probes=UNLIMITED)
    check_invariants(items, conjunction(cause), result, UNLIMITED)
    assert result.status == "proven"
    assert frozenset(result.minimal) == cause
    assert len(probe.calls) == result.probe_count, "count = distinct probes actually run"
    assert result.probe_count <= paper_bound(len(items)) + (paper_bound(3) if group_of else 0)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 200), st.data())
def test_single_cause_is_logarithmic(n: int, data: st.DataObject) -> None:
    """One cause among n, monotone: probes <= 1 + 2·⌈log2 n⌉ (each round: two halves)."""
    cause = data.draw(st.integers(0, n - 1))
    result = minimise(range(n), lambda subset: cause in subset, max_probes=UNLIMITED)
    assert result.minimal == (cause,)
    assert result.probe_count <= 1 + 2 * math.ceil(math.log2(n))


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 12), st.data(), grouping)
def test_any_of_several_causes(
    n: int, data: st.DataObject, group_of: Callable[[int], Hashable] | None
) -> None:
    items = tuple(range(n))
    causes = data.draw(
        st.lists(
            st.frozensets(st.sampled_from(items), min_size=1, max_size=3), min_size=1, max_size=4
        )
    )
    probe = any_of(causes)
    result = minimise(items, probe, group_of=group_of, max_probes=UNLIMITED)
    check_invariants(items, probe, result, UNLIMITED)
    assert result.status == "proven"
    minimal = frozenset(result.minimal)
    assert minimal in causes, "a 1-minimal set of a monotone disjunction is one of the causes"
    assert not any(other < minimal for other in causes)


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 11), st.integers(0, 2**32), st.booleans(), grouping)
def test_random_non_monotone_predicates(
    n: int, seed: int, force_all: bool, group_of: Callable[[int], Hashable] | None
) -> None:
    items = tuple(range(n))
    probe = random_predicate(seed, items, force_all)
    counting = CountingProbe(probe)
    result = minimise(items, counting, group_of=group_of, max_probes=UNLIMITED)
    check_invariants(items, probe, result, UNLIMITED)
    assert len(counting.calls) == result.probe_count
    if not items or not probe(frozenset(items)):  # with no items, "all" is the known miss
        assert result.status == "not-provable"
        assert result.probe_count == (1 if items else 0)
    else:
        assert result.status == "proven"
        groups = len({group_of(item) for item in items}) if group_of else 0
        assert result.probe_count <= paper_bound(n) + (paper_bound(groups) - 1 if groups else 0)
        if group_of is None and n >= 8:  # the paper bound is below n² from n = 8 on
            assert result.probe_count <= n * n


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 11), st.integers(0, 2**32), st.data(), grouping)
def test_determinism_and_budget_prefix(
    n: int, seed: int, data: st.DataObject, group_of: Callable[[int], Hashable] | None
) -> None:
    """Same inputs and answers → same result; a budget cuts the same probe sequence short and
    keeps the last set known to hit."""
    items = tuple(range(n))
    probe = random_predicate(seed, items, force_all=True)
    full = minimise(items, probe, group_of=group_of, max_probes=UNLIMITED)
    assert minimise(items, probe, group_of=group_of, max_probes=UNLIMITED) == full
    budget = data.draw(st.integers(1, full.probe_count + 1))
    cut = minimise(items, probe, group_of=group_of, max_probes=budget)
    check_invariants(items, probe, cut, budget)
    assert cut.probes == full.probes[:budget]
    if budget >= full.probe_count:
        assert cut == full
    else:
        assert cut.status == "over-budget"
        last_hit = [subset for subset, hit in cut.probes if hit][-1]
        assert frozenset(cut.minimal) == last_hit


# --- examples -------------------------------------------------------------------------------


UID = Difference("blah.txt", "uid", 1000, 0)
GID = Difference("blah.txt", "gid", 1000, 0)
UNAME = Difference("blah.txt", "uname", "dev", "")
GNAME = Difference("blah.txt", "gname", "dev", "")
SEED = (UID, GID, UNAME, GNAME)


@pytest.mark.parametrize("grouped", [False, True])
def test_seed_case_uid_and_gid(grouped: bool) -> None:
    calls: list[frozenset[Difference]] = []

    def probe(subset: frozenset[Difference]) -> bool:
        calls.append(subset)
        return UID in subset and GID in subset

    result = minimise(SEED, probe, group_of=(lambda d: d.field) if grouped else None, max_probes=20)
    assert result.status == "proven"
    assert result.minimal == (UID, GID)
    assert [result.label_of(d) for d in SEED] == ["proven", "proven", "not-a-cause", "not-a-cause"]
    assert [subset for subset, _ in result.probes] == [
        frozenset(SEED),
        frozenset({UID, GID}),
        frozenset({UID}),
        frozenset({GID}),
    ]
    assert len(calls) == result.probe_count == 4
    assert result.classification[0].evidence == (1, 3)  # {uid,gid} hit, {gid} missed
    assert result.classification[2].evidence == (1,)  # {uid,gid} hit without uname


def test_not_provable_spends_one_probe() -> None:
    result = minimise(SEED, lambda subset: False, max_probes=20)
    assert result.status == "not-provable"
    assert result.probes == ((frozenset(SEED), False),)
    assert result.minimal == ()
    assert {entry.label for entry in result.classification} == {"untested"}


def test_group_first_then_elements() -> None:
    """3 files x 4 fields; only b's uid matters: the uid group survives, then b's uid."""
    diffs = tuple(
        Difference(path, field, 1, 0)
        for path in ("a", "b", "c")
        for field in ("uid", "gid", "uname", "mode")
    )
    cause = Difference("b", "uid", 1, 0)
    result = minimise(diffs, lambda subset: cause in subset, group_of=lambda d: d.field)
    assert result.minimal == (cause,)
    assert result.status == "proven"
    first_group_probe = result.probes[1][0]
    assert {d.field for d in first_group_probe} == {"uid", "gid"}  # first half of the groups


def test_over_budget_keeps_last_sufficient_set() -> None:
    items = tuple(range(16))
    result = minimise(items, lambda subset: {3, 12} <= subset, max_probes=3)
    assert result.status == "over-budget"
    assert result.probe_count == 3
    assert {3, 12} <= set(result.minimal)
    assert result.label_of(3) == "untested"


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        minimise((1, 1), lambda subset: True)
    with pytest.raises(ValueError):
        minimise((1,), lambda subset: True, max_probes=0)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 11), st.integers(0, 2**32), st.integers(1, 60))
def test_proven_groups_are_one_minimal_over_groups(n: int, seed: int, budget: int) -> None:
    """Once the group phase ends, its groups hit together and miss without any one of them,
    by probes that were run — even if the element phase then runs out of budget."""

    def group_of(item: int) -> int:
        return item % 3

    items = tuple(range(n))
    probe = random_predicate(seed, items, force_all=True)
    result = minimise(items, probe, group_of=group_of, max_probes=budget)
    if result.proven_groups is None:
        assert result.status == "over-budget"
        return
    run = dict(result.probes)
    kept = [frozenset(i for i in items if group_of(i) == key) for key in result.proven_groups]
    union = frozenset().union(*kept)
    assert union == frozenset(items) or run[union] is True
    for group in kept:
        assert not (union - group) or run[union - group] is False
    if result.status == "proven":
        assert set(result.minimal) <= union


def test_without_groups_there_are_no_proven_groups() -> None:
    assert minimise((1, 2), lambda subset: 1 in subset).proven_groups is None


def test_copy_all_case_proves_every_uid_and_gid_within_the_cell_budget() -> None:
    """COPY . reads three files; every uid and gid matters, owner names do not: 4 group
    probes, then one complement per element (6), where halving ran past 15 probes."""
    diffs = tuple(
        Difference(path, field, 1000, 0)
        for path in ("Dockerfile", "blah.txt", "docker-compose.yml")
        for field in ("uid", "gid", "uname", "gname")
    )
    cause = {d for d in diffs if d.field in ("uid", "gid")}
    result = minimise(diffs, lambda subset: cause <= subset, group_of=lambda d: d.field)
    assert result.status == "proven"
    assert set(result.minimal) == cause
    assert result.proven_groups == ("uid", "gid")
    assert result.probe_count == 10
