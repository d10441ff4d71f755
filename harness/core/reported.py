"""Verdicts from what the builders report step by step, for multi-stage builds where BuildKit
builds a side: BuildKit leaves no image per step, and the final image's history holds the last
stage alone, so a builder stage's steps can be read only from the build's own progress.

The second build's report decides: a step is shared when its log says the step was taken
from the cache (``CACHED`` on BuildKit's vertex, ``Using cache`` after the legacy builder's
``Step k/N``). BuildKit numbers its vertices per stage (``[builder 3/4]``), counting the FROM
and each step that makes a vertex (RUN, COPY, ADD, WORKDIR): they are mapped back to the
legacy numbering (every ARG before the first FROM and every FROM count), so a step has one
number whichever builder ran it. A step with no vertex (ENV, LABEL, ...) changes only the
config and follows the step before it in its stage; a FROM of an image is the cell's own
base on both sides; a FROM of a stage follows that stage's last step. BuildKit builds only the
stages the target needs: a stage the second build did not run is left out, and said.

ONBUILD triggers of a stage's image run inside its FROM step: the legacy builder prints them
under ``Step k/N : FROM`` (``Using cache`` when they hit); BuildKit makes a vertex of each
right after the FROM, numbered as steps of the stage (Engine 28 names it ``ONBUILD ADD ...``
and counts it in the total, 20.10 names it as the trigger and does not), and one vertex per
image: stages FROM one image share them, named after either stage. Here the triggers are the
FROM step: it is reused when every trigger vertex was CACHED.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from harness.core.buildlog import StepEvent
from harness.core.dockerfile import Dockerfile, Instruction, Stage
from harness.core.model import StepComparison, Verdict
from harness.core.verdict import Judgement
from harness.core.vertex import Vertex

_VERTEX_KEYWORDS = frozenset({"FROM", "RUN", "COPY", "ADD", "WORKDIR"})


@dataclass(frozen=True)
class Triggers:
    """The ONBUILD triggers the image a stage starts from carries (each as after
    ``ONBUILD``), and that image: stages FROM one image share their trigger vertices."""

    image: str
    instructions: tuple[str, ...]


def vertex_events(
    vertices: Sequence[Vertex],
    dockerfile: Dockerfile,
    target: str | None = None,
    triggers: Mapping[int, Triggers] | None = None,
) -> list[StepEvent]:
    """BuildKit's vertices as events numbered like the legacy builder's steps; a vertex whose
    stage or step cannot be placed (its instruction's keyword differs) is left out. A stage
    with ``triggers`` (by stage index) gets its FROM step's event from its trigger vertices."""
    stages = dockerfile.built_stages(target)
    armed = triggers or {}
    events: dict[int, StepEvent] = {}
    fired: dict[str, dict[int, bool]] = {}  # image -> trigger number -> CACHED
    for vertex in vertices:
        stage = _stage_of(vertex.prefix, stages)
        if stage is None:
            continue
        own = armed.get(stage.index)
        count = len(own.instructions) if own else 0
        if own and 2 <= vertex.index <= count + 1:
            trigger = own.instructions[vertex.index - 2]
            if _keyword(vertex.instruction) == _keyword(trigger):
                fired.setdefault(own.image, {})[vertex.index] = vertex.cached
            continue
        if own and vertex.index == 1:  # the FROM step is its triggers' (below)
            continue
        index = vertex.index - count if vertex.index > 1 else vertex.index
        steps = _vertex_steps(stage, vertex.total, count)
        if steps is None or not 1 <= index <= len(steps):
            continue
        step = steps[index - 1]
        if _keyword(vertex.instruction) != step.keyword:
            continue
        events.setdefault(
            step.step,
            StepEvent(step.step, vertex.total, vertex.instruction, vertex.cached, None),
        )
    for stage in stages:
        own = armed.get(stage.index)
        ran = fired.get(own.image, {}) if own else {}
        if own and len(ran) == len(own.instructions):
            start = stage.instructions[0]
            events[start.step] = StepEvent(
                start.step, len(stage.instructions), start.text, all(ran.values()), None
            )
    return [events[number] for number in sorted(events)]


def _keyword(instruction: str) -> str:
    """An instruction's keyword; a trigger's vertex as Engine 28 names it (``ONBUILD ADD``)
    has the trigger's."""
    words = instruction.split(None, 2)
    if len(words) > 1 and words[0].upper() == "ONBUILD":
        words = words[1:]
    return words[0].upper() if words else ""


def _stage_of(prefix: str, stages: Sequence[Stage]) -> Stage | None:
    """The stage a vertex prefix names: its last word is the stage's name or ``stage-<i>``;
    without one, the only stage (compose may put its own words first)."""
    words = prefix.split()
    last = words[-1].lower() if words else ""
    for stage in stages:
        if last and last in (stage.name, f"stage-{stage.index}"):
            return stage
    return stages[0] if len(stages) == 1 else None


def _vertex_steps(stage: Stage, total: int, triggers: int = 0) -> list[Instruction] | None:
    """The stage's steps that make a vertex, as many as BuildKit counts (older BuildKit made
    no vertex for WORKDIR; Engine 28 counts the image's triggers too)."""
    made = [i for i in stage.instructions if i.keyword in _VERTEX_KEYWORDS]
    without_workdir = [i for i in made if i.keyword != "WORKDIR"]
    for steps in (made, without_workdir):
        if total in (len(steps), len(steps) + triggers):
            return steps
    return None


def judge_reported(
    dockerfile: Dockerfile,
    target: str | None,
    first: Sequence[StepEvent],
    second: Sequence[StepEvent],
    stages: Mapping[int, str] | None = None,
    triggered: Collection[int] = (),
) -> Judgement:
    """Each built step of the Dockerfile, shared when the second build's report says it was
    taken from the cache; steps of stages the second build did not run are left out. The
    FROM of a ``triggered`` stage (its image has ONBUILD triggers) is reused when the report
    says its triggers were; a report that shows none of them is an error, not a guess."""
    first_by, second_by = {e.step: e for e in first}, {e.step: e for e in second}
    built = dockerfile.built_stages(target)
    ran = {s.index for s in built if any(i.step in second_by for i in s.instructions)}
    unseen = _unseen_triggers(built, ran, triggered, second_by, stages)
    if unseen:
        return Judgement(Verdict.ERROR, reason=unseen)
    reused: dict[int, bool] = {}  # stage index -> its last step so far was reused
    steps: list[StepComparison] = []
    for stage in built:
        if stage.index not in ran:
            continue
        for instruction in stage.instructions:
            shared = _reused(instruction, stage, dockerfile, second_by, reused, triggered)
            reused[stage.index] = shared
            steps.append(_comparison(instruction, shared, first_by, second_by, stages))
    notes = tuple(_skipped(built, ran, stages))
    if not steps:
        return Judgement(Verdict.ERROR, reason="the second build's log reports no step")
    missed = next((step for step in steps if not step.shared), None)
    final = steps[-1].shared if built[-1].index in ran else None
    verdict = Verdict.SHARED if missed is None else Verdict.DIVERGED
    return Judgement(
        verdict, steps=tuple(steps), diverged_at=missed, notes=notes, final_image_reused=final
    )


def _unseen_triggers(
    built: Sequence[Stage],
    ran: Collection[int],
    triggered: Collection[int],
    second: Mapping[int, StepEvent],
    stages: Mapping[int, str] | None,
) -> str | None:
    """Why the report cannot judge a stage whose image has triggers (None: it can)."""
    for stage in built:
        armed = stage.index in ran and stage.index in triggered
        if armed and stage.instructions[0].step not in second:
            label = stages.get(stage.index, stage.index) if stages else stage.index
            return (
                "the second build's log shows no step for the ONBUILD triggers of stage "
                f"{label}'s image"
            )
    return None


def _reused(
    instruction: Instruction,
    stage: Stage,
    dockerfile: Dockerfile,
    second: Mapping[int, StepEvent],
    reused: Mapping[int, bool],
    triggered: Collection[int],
) -> bool:
    if instruction.keyword == "FROM":
        earlier = dockerfile.stage_named(stage.base)
        if earlier is not None and earlier.index < stage.index:
            return reused.get(earlier.index, False)
        if stage.index in triggered:  # the image's ONBUILD triggers ran in this step
            return second[instruction.step].cached
        return True  # the cell's own base image, the same for both builds
    event = second.get(instruction.step)
    if event is None:  # no vertex of its own: the config follows the step before it
        return reused.get(stage.index, False)
    return event.cached


def _comparison(
    instruction: Instruction,
    shared: bool,
    first: Mapping[int, StepEvent],
    second: Mapping[int, StepEvent],
    stages: Mapping[int, str] | None,
) -> StepComparison:
    def seen(events: Mapping[int, StepEvent]) -> tuple[str, bool | None]:
        event = events.get(instruction.step)
        return (event.image or "", event.cached) if event else ("", None)

    (first_image, first_cached), (second_image, second_cached) = seen(first), seen(second)
    return StepComparison(
        step=instruction.step,
        instruction=instruction.text,
        first_image=first_image,
        second_image=second_image,
        first_cached=first_cached,
        second_cached=second_cached,
        stage=stages.get(instruction.stage) if stages and instruction.stage is not None else None,
        reused=shared,
    )


def _skipped(built: Sequence[Stage], ran: set[int], stages: Mapping[int, str] | None) -> list[str]:
    return [
        f"stage {stages.get(s.index, s.index) if stages else s.index} was not built by the "
        "second build (BuildKit builds only the stages the target needs): not compared"
        for s in built
        if s.index not in ran
    ]
