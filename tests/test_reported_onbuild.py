"""ONBUILD triggers in BuildKit's step report of a multi-stage build (harness.core.reported).

The logs under tests/buildlogs/onbuild-* were captured with CLI 28.5.2 + buildx 0.29.1 and
BuildKit, on Engine 20.10.24 and on Engine 28.5.2, from onbuild-multistage.Dockerfile on a
base imported with ``--change 'ONBUILD ADD trig.txt /usr/src/trig.txt'``, the build cache
emptied first: cold, again unchanged (warm), with trig.txt changed (the trigger's file), then
with blah.txt changed (the builder stage's ADD). The expectations are what was changed
between the builds, not what the code reads.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.core.buildlog import parse_vertices
from harness.core.dockerfile import parse_dockerfile
from harness.core.model import Verdict
from harness.core.reported import Triggers, judge_reported, vertex_events
from harness.core.vertex import Vertex

LOGS = Path(__file__).resolve().parent / "buildlogs"
DOCKERFILE = parse_dockerfile((LOGS / "onbuild-multistage.Dockerfile").read_text())
TRIGGERS = {index: Triggers("trig", ("ADD trig.txt /usr/src/trig.txt",)) for index in (0, 1)}
STAGES = {0: "builder", 1: "1"}


def _judged(engine: str, second: str, triggers: dict[int, Triggers] = TRIGGERS):
    first_log, second_log = (
        (LOGS / f"onbuild-{engine}-{name}.log").read_text() for name in ("cold", second)
    )
    first, seconds = (
        vertex_events(parse_vertices(log), DOCKERFILE, None, triggers)
        for log in (first_log, second_log)
    )
    return judge_reported(DOCKERFILE, None, first, seconds, STAGES, triggers)


@pytest.mark.parametrize("engine", ["20", "28"])
def test_an_unchanged_build_reuses_every_step_the_triggers_included(engine: str) -> None:
    judged = _judged(engine, "warm")
    assert judged.verdict is Verdict.SHARED
    assert [step.step for step in judged.steps] == [1, 2, 3, 4, 5, 6]
    assert judged.final_image_reused is True


@pytest.mark.parametrize("engine", ["20", "28"])
def test_a_changed_trigger_file_misses_at_the_from_step(engine: str) -> None:
    judged = _judged(engine, "trigger-changed")
    assert judged.verdict is Verdict.DIVERGED
    assert judged.diverged_at is not None
    assert (judged.diverged_at.step, judged.diverged_at.stage) == (1, "builder")
    assert judged.diverged_at.instruction == "FROM trig AS builder"
    assert [step.reused for step in judged.steps] == [False] * 6  # stage 1 FROM trig too


@pytest.mark.parametrize("engine", ["20", "28"])
def test_a_changed_context_file_misses_after_the_cached_triggers(engine: str) -> None:
    judged = _judged(engine, "context-changed")
    assert judged.diverged_at is not None
    assert (judged.diverged_at.step, judged.diverged_at.instruction) == (
        2,
        "ADD blah.txt /src/blah.txt",
    )
    reused = {step.step: step.reused for step in judged.steps}
    assert reused[1] is True and reused[4] is True  # both stages' triggers were CACHED


def test_without_the_triggers_engine_28_s_report_cannot_be_placed() -> None:
    """What the harness did before: Engine 28 counts the trigger in the total, so only the
    FROM vertex is placed, the changed trigger is not seen and the build looks shared."""
    judged = _judged("28", "trigger-changed", {})
    assert judged.verdict is Verdict.SHARED
    assert judged.notes == ("stage 1 was not built by the second build (BuildKit builds only "
                            "the stages the target needs): not compared",)  # fmt: skip


def test_a_report_without_the_trigger_vertices_is_an_error_not_a_guess() -> None:
    log = (LOGS / "onbuild-28-warm.log").read_text()
    vertices = [v for v in parse_vertices(log) if not v.instruction.startswith("ONBUILD")]
    events = vertex_events(vertices, DOCKERFILE, None, TRIGGERS)
    judged = judge_reported(DOCKERFILE, None, events, events, STAGES, TRIGGERS)
    assert judged.verdict is Verdict.ERROR
    assert "ONBUILD triggers of stage builder" in (judged.reason or "")


@given(
    cached=st.lists(st.booleans(), min_size=1, max_size=3),
    engine_28=st.booleans(),
    rest_cached=st.booleans(),
)
def test_either_engine_s_numbering_places_every_step(
    cached: list[bool], engine_28: bool, rest_cached: bool
) -> None:
    """One stage FROM an image with k triggers and two steps: 20.10 numbers the triggers
    2..k+1 of a total without them, 28 counts them in the total and names them ONBUILD."""
    dockerfile = parse_dockerfile("FROM trig\nADD a /a\nRUN true\n")
    triggers = tuple(f"RUN echo {n}" for n in range(len(cached)))
    k = len(cached)
    total = 3 + k if engine_28 else 3
    vertices = [Vertex("", 1, 3, "FROM trig", False)]
    vertices += [
        Vertex("", 2 + n, total, ("ONBUILD " if engine_28 else "") + trigger, hit)
        for n, (trigger, hit) in enumerate(zip(triggers, cached, strict=True))
    ]
    vertices += [
        Vertex("", 2 + k, total, "ADD a /a", rest_cached),
        Vertex("", 3 + k, total, "RUN true", rest_cached),
    ]
    events = vertex_events(vertices, dockerfile, None, {0: Triggers("trig", triggers)})
    assert [(e.step, e.cached) for e in events] == [
        (1, all(cached)),
        (2, rest_cached),
        (3, rest_cached),
    ]
