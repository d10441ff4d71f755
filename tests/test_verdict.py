from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.core.buildlog import StepEvent
from harness.core.dockerfile import parse_dockerfile, parse_instructions
from harness.core.model import StepRef
from harness.core.verdict import StepMismatch, Verdict, align, judge

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


MULTI = parse_dockerfile(
    "ARG BASE=b\nFROM $BASE AS build\nADD a /a\nFROM $BASE\nCOPY --from=build /a /a\n"
)


def _events(steps: list[tuple[str, str | None]]) -> list[StepEvent]:
    return [
        StepEvent(number, len(steps), text, False, image)
        for number, (text, image) in enumerate(steps, start=1)
    ]


@given(st.lists(st.sampled_from(["x=1", "com.docker.compose.image.builder=classic", "y=2"])))
def test_any_number_of_label_steps_after_the_dockerfiles_are_set_aside(labels: list[str]) -> None:
    own = [(i.text, None if i.stage is None else f"{i.step:012x}") for i in MULTI.steps()]
    added = [(f"LABEL {label}", "fffffffffff0") for label in labels]
    aligned = align(MULTI.steps(), _events(own + added))
    assert aligned.images == (None, *(f"{n:012x}" for n in range(2, 6)))
    assert aligned.added == tuple(text for text, _ in added)


def test_a_log_that_is_not_the_dockerfiles_is_refused() -> None:
    steps = MULTI.steps()
    good = [(i.text, None if i.stage is None else "0123456789ab") for i in steps]
    for events, words in [
        (_events(good[:-1]), "4 steps for 5"),
        (_events([*good[:2], ("ADD b /b", "0123456789ab"), *good[3:]]), "step 3 of the log"),
        (_events([*good, ("RUN x", "0123456789ab")]), "steps the Dockerfile lacks: RUN x"),
        (_events([*good[:2], ("ADD a /a", None), *good[3:]]), "no image for step 3"),
    ]:
        with pytest.raises(StepMismatch, match=words):
            align(steps, events)


def test_a_miss_in_a_builder_stage_can_leave_the_final_image_reused() -> None:
    steps = [i for i in MULTI.steps() if i.stage is not None]
    stages = {stage.index: stage.label for stage in MULTI.stages}
    result = judge(steps, ["b", "a1", "b", "f"], ["b", "a2", "b", "f"], stages=stages)
    assert result.verdict is Verdict.DIVERGED and result.final_image_reused is True
    assert result.diverged_at is not None and result.diverged_at.ref == StepRef(
        3, "ADD a /a", "build"
    )
    assert [s.stage for s in result.steps] == ["build", "build", "1", "1"]
    missed = judge(steps, ["b", "a1", "b", "f"], ["b", "a1", "b", "g"], stages=stages)
    assert missed.final_image_reused is False
