"""BuildKit (and cross-builder) verdicts from image history: pure, from engine-shaped configs."""

from __future__ import annotations

import pytest

from harness.core.dockerfile import parse_instructions
from harness.core.history import HistoryEntry, HistoryError, ImageState, image_state, judge_history
from harness.core.model import Verdict

BASE = ImageState((HistoryEntry("2026-01-01T00:00:00.1Z", "import"),), ("sha256:base",))
DOCKERFILE = parse_instructions(
    "FROM base\nRUN echo one > /one\nADD blah.txt /usr/src/blah.txt\nRUN echo two > /two\n"
)
ONE = ("t1", "RUN /bin/sh -c echo one > /one # buildkit", "sha256:1")
ADD = ("t2", "ADD blah.txt /usr/src/blah.txt # buildkit", "sha256:2")
TWO = ("t3", "RUN /bin/sh -c echo two > /two # buildkit", "sha256:3")


def image(*steps: tuple[str, str, str | None]) -> ImageState:
    history = BASE.history + tuple(HistoryEntry(c, by, layer is None) for c, by, layer in steps)
    layers = BASE.layers + tuple(layer for _, _, layer in steps if layer is not None)
    return ImageState(history, layers)


def test_every_step_cached_is_shared() -> None:
    judged = judge_history(DOCKERFILE, BASE, image(ONE, ADD, TWO), image(ONE, ADD, TWO))
    assert judged.verdict is Verdict.SHARED
    assert [step.shared for step in judged.steps] == [True] * 4


def test_same_layer_but_new_time_is_a_rebuild_and_later_steps_follow() -> None:
    rebuilt_add = ("t2b", ADD[1], ADD[2])  # same diff ID: content alone proves nothing
    same_two = ("t3", TWO[1], TWO[2])  # even an identical later entry cannot be shared
    judged = judge_history(
        DOCKERFILE, BASE, image(ONE, ADD, TWO), image(ONE, rebuilt_add, same_two)
    )
    assert judged.verdict is Verdict.DIVERGED
    assert judged.diverged_at is not None and judged.diverged_at.step == 3
    assert [step.shared for step in judged.steps] == [True, True, False, False]


def test_legacy_against_buildkit_diverges_at_the_first_step() -> None:
    legacy = image(("t1", "/bin/sh -c echo one > /one", "sha256:1"), ADD, TWO)
    judged = judge_history(DOCKERFILE, BASE, image(ONE, ADD, TWO), legacy)
    assert judged.diverged_at is not None and judged.diverged_at.step == 2


def test_empty_layer_entries_borrow_time_and_trailing_steps_are_noted() -> None:
    dockerfile = parse_instructions("FROM base\nENV A=1\nRUN echo one > /one\n")
    label = ("t9", "LABEL com.docker.compose.image.builder=classic", None)
    first = image(("t1", "ENV A=1", None), ONE, label)
    second = image(("t1x", "ENV A=1", None), ONE)
    judged = judge_history(dockerfile, BASE, first, second)
    assert judged.verdict is Verdict.SHARED
    assert any("com.docker.compose.image.builder" in note for note in judged.notes)


def test_the_base_s_onbuild_triggers_belong_to_the_from_step() -> None:
    """Each trigger leaves an entry between the base's and the Dockerfile's next step: a miss
    there is the FROM step's, and the Dockerfile's steps still line up."""
    base = ImageState(BASE.history, BASE.layers, triggers=1)
    dockerfile = parse_instructions("FROM base\nRUN echo one > /one\nRUN echo two > /two\n")
    shared = judge_history(dockerfile, base, image(ADD, ONE, TWO), image(ADD, ONE, TWO))
    assert shared.verdict is Verdict.SHARED and shared.notes == ()
    assert [step.instruction for step in shared.steps][1:] == [
        "RUN echo one > /one",
        "RUN echo two > /two",
    ]
    rebuilt = ("t2b", ADD[1], ADD[2])
    missed = judge_history(dockerfile, base, image(ADD, ONE, TWO), image(rebuilt, ONE, TWO))
    assert missed.diverged_at is not None and missed.diverged_at.step == 1
    assert [step.shared for step in missed.steps] == [False, False, False]


def test_too_few_entries_or_another_base_is_an_error_not_a_verdict() -> None:
    short = judge_history(DOCKERFILE, BASE, image(ONE), image(ONE, ADD, TWO))
    assert short.verdict is Verdict.ERROR and "1 history entries for 3" in (short.reason or "")
    other = ImageState((HistoryEntry("x", "other"),), ("sha256:other",))
    foreign = judge_history(DOCKERFILE, BASE, other, image(ONE, ADD, TWO))
    assert foreign.verdict is Verdict.ERROR


def test_config_reading() -> None:
    config = {
        "history": [
            {"created": "c0", "created_by": "import"},
            {"created": "c1", "created_by": "ENV A=1", "empty_layer": True},
        ],
        "rootfs": {"type": "layers", "diff_ids": ["sha256:a"]},
    }
    state = image_state(config)
    assert state.history[1].empty_layer and state.layers == ("sha256:a",)
    assert state.triggers == 0
    armed = image_state({**config, "config": {"OnBuild": ["ADD a /a", "RUN b"]}})
    assert armed.triggers == 2
    with pytest.raises(HistoryError):
        image_state({"history": [{"created": "c0"}], "rootfs": {"diff_ids": []}})
