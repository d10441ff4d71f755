"""Tests for the pure bisection core: budget, boundary correctness, skip and flaky handling."""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Sequence, Set

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.core.bisection import (
    BisectResult,
    Kind,
    Observation,
    Status,
    bisect,
    classify_repeats,
    probe_budget,
)

OLD = "shared"
NEW = "diverged@3"
SKIP = Observation.skipped()
FLAKY = Observation.flaky(OLD, 2, 3)

# Local settings object (not a global profile) so other test modules keep their own defaults.
PROPERTY = settings(max_examples=300, deadline=None, derandomize=True, database=None)


class ScriptedProbe:
    """Answers from a fixed script and fails the test if an index is asked twice."""

    def __init__(self, script: Sequence[Observation]) -> None:
        self.script = list(script)
        self.calls: list[int] = []

    def __call__(self, index: int) -> Observation:
        assert 0 <= index < len(self.script), f"probed out of range: {index}"
        assert index not in self.calls, f"probed {index} twice"
        self.calls.append(index)
        return self.script[index]


def run(script: Sequence[Observation]) -> tuple[BisectResult, ScriptedProbe]:
    probe = ScriptedProbe(script)
    return bisect(len(script), probe), probe


def monotone(n: int, first_new: int, skips: Set[int] = frozenset()) -> list[Observation]:
    return [SKIP if i in skips else Observation.of(OLD if i < first_new else NEW) for i in range(n)]


def check_common(result: BisectResult, probe: ScriptedProbe, n: int) -> None:
    """Invariants that hold for every input."""
    assert [index for index, _ in result.probes] == probe.calls
    assert all(obs == probe.script[index] for index, obs in result.probes)
    assert result.conclusive_probes <= probe_budget(n)
    assert probe.calls[:2] == ([0] if n == 1 else [0, n - 1])


@st.composite
def skip_sets(draw: st.DrawFn, n: int) -> set[int]:
    """Interior skips at a drawn density, so sparse and near-total skipping both occur."""
    density = draw(st.sampled_from([0.0, 0.1, 0.3, 0.6, 0.9, 1.0]))
    rnd = draw(st.randoms(use_true_random=False))
    return {i for i in range(1, n - 1) if rnd.random() < density}


@st.composite
def monotone_cases(draw: st.DrawFn) -> tuple[int, int, set[int]]:
    n = draw(st.integers(min_value=2, max_value=300))
    first_new = draw(st.integers(min_value=1, max_value=n - 1))
    return n, first_new, draw(skip_sets(n))


# --- property tests -------------------------------------------------------------------------


@PROPERTY
@given(monotone_cases())
def test_monotone_finds_boundary_or_brackets_it_with_skips(case: tuple[int, int, set[int]]) -> None:
    n, true_first_new, skips = case
    result, probe = run(monotone(n, true_first_new, skips))
    check_common(result, probe, n)
    assert (result.old_verdict, result.new_verdict) == (OLD, NEW)
    assert result.last_old is not None and result.first_new is not None
    assert result.last_old < true_first_new <= result.first_new
    assert true_first_new in result.candidates
    if result.status is Status.FOUND:
        assert (result.last_old, result.first_new) == (true_first_new - 1, true_first_new)
        assert result.candidates == (true_first_new,)
    else:
        assert result.status is Status.AMBIGUOUS
        between = range(result.last_old + 1, result.first_new)
        assert set(between) <= skips
        assert result.candidates == (*between, result.first_new)
        # Ambiguity needs a skip right at the true boundary.
        assert {true_first_new - 1, true_first_new} & skips


@PROPERTY
@given(monotone_cases())
def test_found_whenever_the_boundary_pair_is_testable(case: tuple[int, int, set[int]]) -> None:
    n, true_first_new, skips = case
    skips = skips - {true_first_new - 1, true_first_new}
    result, _ = run(monotone(n, true_first_new, skips))
    assert result.status is Status.FOUND
    assert (result.last_old, result.first_new) == (true_first_new - 1, true_first_new)


@PROPERTY
@given(st.integers(min_value=2, max_value=300), st.data())
def test_without_skips_always_found_exactly(n: int, data: st.DataObject) -> None:
    true_first_new = data.draw(st.integers(min_value=1, max_value=n - 1))
    result, probe = run(monotone(n, true_first_new))
    check_common(result, probe, n)
    assert result.status is Status.FOUND
    assert (result.last_old, result.first_new) == (true_first_new - 1, true_first_new)
    assert result.reason is None and result.flaky is None


@PROPERTY
@given(st.integers(min_value=2, max_value=300), st.data())
def test_constant_ends_mean_no_change_after_two_probes(n: int, data: st.DataObject) -> None:
    skips = data.draw(skip_sets(n))
    result, probe = run(monotone(n, n, skips))
    assert result.status is Status.NO_CHANGE
    assert probe.calls == [0, n - 1]
    assert result.old_verdict == result.new_verdict == OLD
    assert (result.last_old, result.first_new, result.candidates) == (None, None, ())


ANY_OBSERVATION = st.sampled_from(
    [Observation.of("A"), Observation.of("B"), Observation.of("C"), SKIP, FLAKY]
)


@PROPERTY
@given(st.lists(ANY_OBSERVATION, min_size=1, max_size=200))
def test_arbitrary_sequences_give_a_valid_result(script: list[Observation]) -> None:
    n = len(script)
    result, probe = run(script)
    check_common(result, probe, n)
    tested = dict(result.probes)
    lo, hi = script[0], script[-1]
    if result.status is Status.ERROR:
        assert lo.kind is not Kind.VERDICT or hi.kind is not Kind.VERDICT
        assert probe.calls == sorted({0, n - 1})
        return
    assert lo.kind is hi.kind is Kind.VERDICT
    old = lo.verdict
    assert result.old_verdict == old
    if result.status is Status.NO_CHANGE:
        assert hi.verdict == old and probe.calls == sorted({0, n - 1})
        return
    last_old, first_new = result.last_old, result.first_new
    assert last_old is not None and first_new is not None and last_old < first_new
    assert tested[last_old].kind is Kind.VERDICT and tested[last_old].verdict == old
    assert tested[first_new].kind is Kind.VERDICT and tested[first_new].verdict != old
    assert result.new_verdict == tested[first_new].verdict
    if result.status is Status.FOUND:
        assert first_new == last_old + 1
        assert result.candidates == (first_new,)
    elif result.status is Status.AMBIGUOUS:
        assert first_new > last_old + 1
        assert all(tested.get(i) == SKIP for i in range(last_old + 1, first_new))
        assert result.candidates == tuple(range(last_old + 1, first_new + 1))
    else:
        assert result.status is Status.FLAKY
        assert result.flaky is not None and last_old < result.flaky < first_new
        assert tested[result.flaky].kind is Kind.FLAKY
        assert probe.calls[-1] == result.flaky
        assert result.candidates == tuple(range(last_old + 1, first_new + 1))


def test_exhaustive_small_monotone_inputs() -> None:
    """Every boundary and every interior skip pattern for n <= 9, deterministically."""
    for n in range(2, 10):
        for true_first_new in range(1, n):
            for mask in itertools.product([False, True], repeat=n - 2):
                skips = {i + 1 for i, skipped in enumerate(mask) if skipped}
                result, probe = run(monotone(n, true_first_new, skips))
                check_common(result, probe, n)
                assert result.last_old is not None and result.first_new is not None
                assert result.last_old < true_first_new <= result.first_new
                found = (result.last_old, result.first_new) == (true_first_new - 1, true_first_new)
                assert (result.status is Status.FOUND) == found
                if not {true_first_new - 1, true_first_new} & skips:
                    assert found


@PROPERTY
@given(st.lists(st.sampled_from(["A", "B", None]), min_size=1, max_size=9))
def test_classify_repeats_counts_the_majority(verdicts: list[Hashable | None]) -> None:
    observation = classify_repeats(verdicts)
    top = max(verdicts.count(v) for v in verdicts)
    assert observation.runs == len(verdicts)
    assert observation.agreeing == top == verdicts.count(observation.verdict)
    uniform = len(set(verdicts)) == 1
    if uniform and verdicts[0] is None:
        assert observation.kind is Kind.SKIP
    elif uniform:
        assert observation.kind is Kind.VERDICT and observation.verdict == verdicts[0]
    else:
        assert observation.kind is Kind.FLAKY


# --- examples -------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, -1])
def test_rejects_empty_candidate_lists(n: int) -> None:
    with pytest.raises(ValueError, match="at least one"):
        bisect(n, ScriptedProbe([]))


def test_single_candidate_is_probed_once_and_unchanged() -> None:
    result, probe = run([Observation.of(OLD)])
    assert probe.calls == [0]
    assert result.status is Status.NO_CHANGE
    assert result.old_verdict == result.new_verdict == OLD


def test_single_untestable_candidate_is_an_error() -> None:
    result, probe = run([SKIP])
    assert probe.calls == [0]
    assert result.status is Status.ERROR
    assert result.reason == "only candidate (index 0) could not be classified: skip"


def test_two_candidates_need_only_the_ends() -> None:
    result, probe = run(monotone(2, 1))
    assert probe.calls == [0, 1]
    assert (result.status, result.last_old, result.first_new) == (Status.FOUND, 0, 1)


@pytest.mark.parametrize(
    ("ends", "expected"),
    [
        ((SKIP, Observation.of(NEW)), ["lower end (index 0) could not be classified: skip"]),
        (
            (Observation.of(OLD), FLAKY),
            ["upper end (index 4) could not be classified: flaky (shared 2/3)"],
        ),
        ((SKIP, FLAKY), ["lower end (index 0)", "upper end (index 4)"]),
    ],
)
def test_unclassifiable_end_is_an_error_naming_the_end(
    ends: tuple[Observation, Observation], expected: list[str]
) -> None:
    result, probe = run([ends[0], *monotone(3, 1), ends[1]])
    assert probe.calls == [0, 4]
    assert result.status is Status.ERROR
    assert result.reason is not None
    for fragment in expected:
        assert fragment in result.reason
    assert "upper" in result.reason or ends[1].kind is Kind.VERDICT
    assert "lower" in result.reason or ends[0].kind is Kind.VERDICT


def test_skips_walk_outward_from_the_median_right_first() -> None:
    script = [Observation.of(OLD), *[SKIP] * 9, Observation.of(NEW)]
    result, probe = run(script)
    assert probe.calls == [0, 10, 5, 6, 4, 7, 3, 8, 2, 9, 1]
    assert result.status is Status.AMBIGUOUS
    assert (result.last_old, result.first_new) == (0, 10)
    assert result.candidates == tuple(range(1, 11))


def test_skips_on_the_boundary_make_it_ambiguous() -> None:
    result, probe = run(monotone(6, 3, skips={2, 3}))
    assert result.status is Status.AMBIGUOUS
    assert (result.last_old, result.first_new) == (1, 4)
    assert result.candidates == (2, 3, 4)
    assert result.reason is not None and "2..4" in result.reason
    assert sorted(probe.calls) == list(range(6))


def test_skip_next_to_the_midpoint_is_stepped_over() -> None:
    result, probe = run(monotone(9, 6, skips={4}))
    assert probe.calls[:4] == [0, 8, 4, 5]
    assert (result.status, result.last_old, result.first_new) == (Status.FOUND, 5, 6)


def test_flaky_interior_probe_stops_with_known_bounds() -> None:
    script = monotone(9, 6)
    script[4] = FLAKY
    result, probe = run(script)
    assert probe.calls == [0, 8, 4]
    assert result.status is Status.FLAKY
    assert (result.flaky, result.last_old, result.first_new) == (4, 0, 8)
    assert result.candidates == tuple(range(1, 9))
    assert result.reason is not None and "flaky (shared 2/3)" in result.reason


def test_new_verdict_is_the_one_seen_at_the_boundary() -> None:
    script = [Observation.of(v) for v in ["A", "A", "C", "C", "B"]]
    result, _ = run(script)
    assert (result.status, result.last_old, result.first_new) == (Status.FOUND, 1, 2)
    assert (result.old_verdict, result.new_verdict) == ("A", "C")


def test_structured_verdicts_compare_by_value() -> None:
    script = [Observation.of(("diverged", 3)) for _ in range(3)] + [Observation.of(("shared",))]
    result, _ = run(script)
    assert (result.status, result.first_new, result.new_verdict) == (
        Status.FOUND,
        3,
        ("shared",),
    )


def test_probe_must_return_an_observation() -> None:
    with pytest.raises(TypeError, match="not an Observation"):
        bisect(3, lambda index: "shared")  # type: ignore[arg-type, return-value]


def test_probe_exceptions_propagate() -> None:
    def broken(index: int) -> Observation:
        raise RuntimeError(f"boom at {index}")

    with pytest.raises(RuntimeError, match="boom at 0"):
        bisect(3, broken)


@pytest.mark.parametrize(("n", "budget"), [(1, 2), (2, 3), (3, 4), (4, 4), (5, 5), (1024, 12)])
def test_probe_budget_is_ceil_log2_plus_two(n: int, budget: int) -> None:
    assert probe_budget(n) == budget


def test_probe_budget_rejects_empty() -> None:
    with pytest.raises(ValueError):
        probe_budget(0)


# --- observations and repeats ---------------------------------------------------------------


def test_repeats_that_agree_give_a_verdict() -> None:
    observation = classify_repeats([OLD, OLD, OLD])
    assert observation == Observation(Kind.VERDICT, OLD, 3, 3)
    assert observation.agreement == "3/3"


def test_repeats_that_were_never_testable_give_a_skip() -> None:
    assert classify_repeats([None, None]) == Observation(Kind.SKIP, None, 2, 2)


def test_repeats_that_disagree_are_flaky_with_majority_share() -> None:
    observation = classify_repeats([OLD, NEW, OLD])
    assert (observation.kind, observation.verdict, observation.agreement) == (
        Kind.FLAKY,
        OLD,
        "2/3",
    )
    assert str(observation) == "flaky (shared 2/3)"


def test_partly_untestable_repeats_are_flaky() -> None:
    assert classify_repeats([None, OLD, OLD]) == Observation.flaky(OLD, 2, 3)
    mostly_untestable = classify_repeats([None, OLD, None])
    assert mostly_untestable == Observation.flaky(None, 2, 3)
    assert str(mostly_untestable) == "flaky (untestable 2/3)"


def test_repeat_ties_go_to_the_earliest_outcome() -> None:
    assert classify_repeats([NEW, OLD, OLD, NEW]).verdict == NEW


def test_classify_repeats_needs_a_run() -> None:
    with pytest.raises(ValueError, match="at least one run"):
        classify_repeats([])


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"kind": Kind.VERDICT, "verdict": None}, ValueError),
        ({"kind": Kind.SKIP, "verdict": OLD}, ValueError),
        ({"kind": Kind.FLAKY, "verdict": OLD, "agreeing": 3, "runs": 3}, ValueError),
        ({"kind": Kind.VERDICT, "verdict": OLD, "agreeing": 2, "runs": 3}, ValueError),
        ({"kind": Kind.VERDICT, "verdict": OLD, "agreeing": 0, "runs": 0}, ValueError),
        ({"kind": Kind.VERDICT, "verdict": ["unhashable"]}, TypeError),
    ],
)
def test_inconsistent_observations_are_rejected(
    kwargs: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        Observation(**kwargs)  # type: ignore[arg-type]


def test_enums_serialise_as_plain_strings() -> None:
    assert str(Status.NO_CHANGE) == "no-change"
    assert f"{Status.AMBIGUOUS}/{Kind.SKIP}" == "ambiguous/skip"
