"""Verdicts from what the engine built: compare the image chain of each Dockerfile step.

With the legacy builder every step leaves an image whose parent is the previous step's
image. The second build shared the cache of the first exactly when its chain holds the same
image IDs; the first step whose IDs differ is where the cache missed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.core.buildlog import StepEvent
from harness.core.dockerfile import Instruction
from harness.core.model import StepComparison, Verdict


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    steps: tuple[StepComparison, ...] = ()
    diverged_at: StepComparison | None = None
    reason: str | None = None
    notes: tuple[str, ...] = field(default=())


def judge(
    instructions: Sequence[Instruction],
    first_chain: Sequence[str],
    second_chain: Sequence[str],
    first_events: Sequence[StepEvent] = (),
    second_events: Sequence[StepEvent] = (),
) -> Judgement:
    """Compare two builds' per-step image chains (index i holds step i+1's image ID)."""
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
        )
        for index, instruction in enumerate(instructions)
    )
    notes = tuple(_log_disagreements(steps))
    missed = next((step for step in steps if not step.shared), None)
    if missed is None:
        return Judgement(Verdict.SHARED, steps=steps, notes=notes)
    return Judgement(Verdict.DIVERGED, steps=steps, diverged_at=missed, notes=notes)


def _log_disagreements(steps: tuple[StepComparison, ...]) -> list[str]:
    """Flag steps where the build log and the image chain tell different stories."""
    notes = []
    for step in steps[1:]:  # step 1 is FROM: never reported as a cache hit
        if step.second_cached is None:
            continue
        if step.shared and not step.second_cached:
            notes.append(f"step {step.step}: same image but the log shows no cache hit")
        if not step.shared and step.second_cached:
            notes.append(f"step {step.step}: the log shows a cache hit but the images differ")
    return notes
