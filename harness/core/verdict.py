"""Verdicts from what the engine built: compare the image of each Dockerfile step.

With the legacy builder every step leaves an image (its ID is the `` ---> <id>`` line after
``Step k/N``), whose parent is the previous step's image in its stage. The second build
shared the cache of the first at a step exactly when both left the same image there; the
first step whose IDs differ, in whichever stage, is where the cache missed. A miss in a
builder stage can still leave the final image reused (a ``COPY --from`` whose files hash the
same), so that is said separately.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from harness.core.buildlog import StepEvent
from harness.core.dockerfile import Instruction
from harness.core.errors import RemoteError
from harness.core.model import EvidenceConflict, StepComparison, Verdict


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    steps: tuple[StepComparison, ...] = ()
    diverged_at: StepComparison | None = None
    reason: str | None = None
    notes: tuple[str, ...] = field(default=())
    final_image_reused: bool | None = None
    conflict: EvidenceConflict | None = None  # two records of one fact disagree


class StepMismatch(RemoteError):
    """A build log whose steps are not the Dockerfile's; the message says where."""


@dataclass(frozen=True)
class Aligned:
    """One build's log set against the Dockerfile: the image of each step (None for an
    ``ARG`` before the first ``FROM``, which leaves none) and the steps the builder added
    after the Dockerfile's own (compose's ``LABEL`` steps: one per label it sets)."""

    images: tuple[str | None, ...]
    added: tuple[str, ...]


def align(instructions: Sequence[Instruction], events: Sequence[StepEvent]) -> Aligned:
    """Pair each Dockerfile step with the log's step of the same number and instruction.

    Labels given to a legacy build (compose 2.x's builder label, ``build.labels``) become
    ``LABEL`` steps after the last stage's own, so any number of them is set aside by
    instruction, not by a count of known labels.
    """
    if len(events) < len(instructions):
        raise StepMismatch(f"the log shows {len(events)} steps for {len(instructions)}")
    for instruction, event in zip(instructions, events, strict=False):
        if (event.step, event.instruction) != (instruction.step, instruction.text):
            raise StepMismatch(
                f"step {instruction.step} of the log is {event.instruction!r}, "
                f"not {instruction.text!r}"
            )
        if instruction.stage is not None and event.image is None:
            raise StepMismatch(f"the log shows no image for step {instruction.step}")
    extra = tuple(event.instruction for event in events[len(instructions) :])
    others = [text for text in extra if text.split(None, 1)[0].upper() != "LABEL"]
    if others:
        raise StepMismatch(f"the log has steps the Dockerfile lacks: {'; '.join(others)}")
    images = tuple(
        event.image if instruction.stage is not None else None
        for instruction, event in zip(instructions, events, strict=False)
    )
    return Aligned(images, extra)


def judge(
    instructions: Sequence[Instruction],
    first_chain: Sequence[str],
    second_chain: Sequence[str],
    first_events: Sequence[StepEvent] = (),
    second_events: Sequence[StepEvent] = (),
    stages: Mapping[int, str] | None = None,
) -> Judgement:
    """Compare two builds' per-step images (index i holds the image of ``instructions[i]``);
    with ``stages`` (index -> name or index) each step names its stage."""
    total = len(instructions)
    for name, chain in (("first", first_chain), ("second", second_chain)):
        if len(chain) != total:
            return Judgement(
                Verdict.ERROR,
                reason=f"{name} build's image chain has {len(chain)} images for {total} steps",
            )
    first_cache = {event.step: event.cached for event in first_events}
    second_cache = {event.step: event.cached for event in second_events}
    steps = tuple(
        StepComparison(
            step=instruction.step,
            instruction=instruction.text,
            first_image=first_chain[index],
            second_image=second_chain[index],
            first_cached=first_cache.get(instruction.step),
            second_cached=second_cache.get(instruction.step),
            stage=_stage(stages, instruction),
        )
        for index, instruction in enumerate(instructions)
    )
    starts = {i.step for i in instructions if i.keyword == "FROM"}
    notes = tuple(_log_disagreements(steps, starts))
    reused = steps[-1].shared if steps else None
    missed = next((step for step in steps if not step.shared), None)
    if missed is None:
        return Judgement(Verdict.SHARED, steps=steps, notes=notes, final_image_reused=reused)
    return Judgement(
        Verdict.DIVERGED, steps=steps, diverged_at=missed, notes=notes, final_image_reused=reused
    )


def _stage(stages: Mapping[int, str] | None, instruction: Instruction) -> str | None:
    return stages.get(instruction.stage) if stages and instruction.stage is not None else None


def _log_disagreements(steps: tuple[StepComparison, ...], starts: set[int]) -> list[str]:
    """Flag steps where the build log and the images tell different stories."""
    notes = []
    for step in steps:
        if step.step in starts or step.second_cached is None:  # FROM is never a cache hit
            continue
        if step.shared and not step.second_cached:
            notes.append(f"step {step.step}: same image but the log shows no cache hit")
        if not step.shared and step.second_cached:
            notes.append(f"step {step.step}: the log shows a cache hit but the images differ")
    return notes
