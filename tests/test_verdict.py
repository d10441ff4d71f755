from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from harness.core.buildlog import StepEvent
from harness.core.dockerfile import parse_instructions
from harness.core.verdict import Verdict, judge

INSTRUCTIONS = parse_instructions("FROM b\nRUN a\nADD blah.txt /usr/src/blah.txt\nRUN c\n")


def test_identical_chains_are_shared() -> None:
    chain = ["base", "i2", "i3", "i4"]
    result = judge(INSTRUCTIONS, chain, list(chain))
    assert result.verdict is Verdict.SHARED
    assert result.diverged_at is None
    assert all(step.shared for step in result.steps)


def test_first_differing_step_is_reported() -> None:
    result = judge(INSTRUCTIONS, ["base", "i2", "i3", "i4"], ["base", "i2", "x3", "x4"])
    assert result.verdict is Verdict.DIVERGED
    assert result.diverged_at is not None
    assert result.diverged_at.step == 3
    assert result.diverged_at.instruction == "ADD blah.txt /usr/src/blah.txt"
    assert [step.shared for step in result.steps] == [True, True, False, False]


def test_chain_of_wrong_length_is_an_error() -> None:
    result = judge(INSTRUCTIONS, ["base", "i2"], ["base", "i2", "i3", "i4"])
    assert result.verdict is Verdict.ERROR
    assert "first build's image chain has 2 images for 4 steps" in (result.reason or "")


def test_log_disagreement_is_noted() -> None:
    second_log = [StepEvent(step, 4, "x", step == 3, None) for step in range(1, 5)]
    result = judge(INSTRUCTIONS, ["b", "2", "3", "4"], ["b", "2", "z", "y"], (), second_log)
    assert result.verdict is Verdict.DIVERGED
    assert any("step 3" in note and "cache hit" in note for note in result.notes)


@given(st.integers(min_value=1, max_value=4))
def test_divergence_point_is_the_first_difference(split: int) -> None:
    first = ["base", "a2", "a3", "a4"]
    second = first[:split] + [f"b{i}" for i in range(split, 4)]
    result = judge(INSTRUCTIONS, first, second)
    if split == 4:
        assert result.verdict is Verdict.SHARED
    else:
        assert result.diverged_at is not None
        assert result.diverged_at.step == split + 1
