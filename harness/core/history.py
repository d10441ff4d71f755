"""Verdicts from the images' own history, for builds that leave no image per step (BuildKit)
and for crossing builders (a BuildKit image against a legacy one). Pure: the input is each
image's config (``docker save`` -> manifest.json -> Config), already read.

What tells a cached step from a rebuilt one, per Dockerfile step (observed on Engine 20.10):

* A cached step reuses the build cache record, and with it the record's creation time: its
  history ``created`` is identical to the nanosecond in both images; a rebuilt step gets a new
  time. (``docker history`` and the history API give whole seconds only: not enough.)
* Its ``created_by`` is the same (the legacy builder writes ``#(nop) ADD file:<hash>``,
  BuildKit ``... # buildkit``: a legacy and a BuildKit image never match).
* Its layer and every earlier layer are the same. A diff ID alone proves nothing: a rebuilt
  step with the same content (or an empty WORKDIR layer) has the same diff ID.
* An empty-layer entry (ENV, LABEL) borrows a neighbour's time, so it is shared when its
  ``created_by`` matches and everything before it is shared.
* Once a step diverges no later step is shared (a cache key includes its parent's).

So each step gets a key that hashes exactly those facts of every entry up to it: two builds
left the same key for a step exactly when the second reused the first's cache there.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from harness.core.buildlog import StepEvent
from harness.core.dockerfile import Instruction
from harness.core.errors import RemoteError
from harness.core.model import Verdict
from harness.core.verdict import Judgement, judge


class HistoryError(RemoteError):
    """An image config that cannot be read step by step; the message says why."""


@dataclass(frozen=True)
class HistoryEntry:
    created: str  # RFC 3339 with nanoseconds, exactly as the image config has it
    created_by: str
    empty_layer: bool = False


@dataclass(frozen=True)
class ImageState:
    """An image's history entries and its layers (RootFS diff IDs), oldest first."""

    history: tuple[HistoryEntry, ...]
    layers: tuple[str, ...]
    # ONBUILD triggers the image carries: a child's build runs them in its FROM step, each
    # leaving a history entry of its own before the Dockerfile's next step
    triggers: int = 0

    def __post_init__(self) -> None:
        with_layer = sum(1 for entry in self.history if not entry.empty_layer)
        if with_layer != len(self.layers):
            raise HistoryError(
                f"{with_layer} history entries with a layer but {len(self.layers)} layers"
            )


def image_state(config: Mapping[str, Any]) -> ImageState:
    """An image config JSON (as in ``docker save``) -> ImageState."""
    try:
        history = tuple(
            HistoryEntry(
                created=str(entry.get("created", "")),
                created_by=str(entry.get("created_by", "")),
                empty_layer=bool(entry.get("empty_layer", False)),
            )
            for entry in config.get("history", [])
        )
        triggers = len((config.get("config") or {}).get("OnBuild") or [])
        return ImageState(history, tuple(config["rootfs"]["diff_ids"]), triggers)
    except (KeyError, TypeError, AttributeError) as error:
        raise HistoryError(f"not an image config: {error}") from None


def step_keys(state: ImageState) -> list[str]:
    """One key per history entry: equal keys mean every entry up to it was shared."""
    keys, digest, layer = [], hashlib.sha256(), 0
    for entry in state.history:
        facts = [entry.created_by, "empty" if entry.empty_layer else "layer"]
        if not entry.empty_layer:
            facts += [state.layers[layer], entry.created]
            layer += 1
        digest.update(repr(facts).encode())
        keys.append("history:" + digest.copy().hexdigest()[:24])
    return keys


def judge_history(
    instructions: Sequence[Instruction],
    base: ImageState,
    first: ImageState,
    second: ImageState,
    first_events: Sequence[StepEvent] = (),
    second_events: Sequence[StepEvent] = (),
) -> Judgement:
    """Compare two images built FROM ``base`` step by step, Dockerfile steps only.

    Step 1 (FROM) is the base image's entries and one entry per ONBUILD trigger of the base
    (both builders run them in the FROM step); every later instruction is one history entry.
    Entries after the Dockerfile's last step (docker-compose's classic builder appends a
    LABEL) are named in a note and not compared.
    """
    size = len(base.history)
    wanted = len(instructions) - 1
    chains, notes = [], []
    for name, state in (("first", first), ("second", second)):
        if state.history[:size] != base.history or state.layers[: _layers(base)] != base.layers:
            reason = f"{name} image does not start with the base image's history"
            return Judgement(Verdict.ERROR, reason=reason)
        own = len(state.history) - size - base.triggers
        if own < wanted:
            reason = (
                f"{name} image has {own} history entries for {wanted} Dockerfile steps after FROM"
            )
            return Judgement(Verdict.ERROR, reason=reason)
        keys, start = step_keys(state), size + base.triggers
        chains.append([keys[start - 1] if start else "history:base", *keys[start : start + wanted]])
        notes += [
            f"{name} image has a step the Dockerfile lacks, not compared: {entry.created_by}"
            for entry in state.history[start + wanted :]
        ]
    judged = judge(instructions, chains[0], chains[1], first_events, second_events)
    return replace(judged, notes=judged.notes + tuple(notes))


def _layers(state: ImageState) -> int:
    return len(state.layers)
