"""The final images as a second witness for a verdict read from BuildKit's step reports.

A multi-stage build that BuildKit ran on a side is judged from the second build's own report
(:mod:`harness.core.reported`): BuildKit leaves no image per step. The two final images are
records the engine keeps whatever the log says, so they check the report's word on the final
stage.

What "the final image was reused" means with BuildKit: the second final image has the first's
layers (rootfs diff IDs, in order) and every history entry alike — ``created_by``, whether it
made a layer and, for a layer, its time to the nanosecond (a cached step keeps its cache
record's time, a step that ran again gets a new one; see :mod:`harness.core.history`). The
image config is not compared: compose adds labels of its own (``com.docker.compose.*``, and
``build.labels``) that change the config and the image ID, not the layers or the history, so
equal IDs would call every compose-built image "not reused". Equal layers alone would not do
either: a step that ran again and wrote the same bytes leaves the same diff ID.

When the report and the images say different things, neither is picked: the result keeps both
(``EvidenceConflict``) and the reused flag stays unknown.
"""

from __future__ import annotations

from dataclasses import replace

from harness.core.history import ImageState, step_keys
from harness.core.model import EvidenceConflict
from harness.core.verdict import Judgement

FINAL_IMAGE_REUSED = "final_image_reused"


def final_image_reused(first: ImageState, second: ImageState) -> bool:
    """Whether the second final image shows the first's cache reused for the whole final
    stage: the same layers and the same history entry by entry (config and labels aside)."""
    if len(first.history) != len(second.history) or first.layers != second.layers:
        return False
    return step_keys(first) == step_keys(second)


def corroborate(judgement: Judgement, first: ImageState, second: ImageState) -> Judgement:
    """The report's judgement checked against the final images: the reused flag the images
    show when the report is silent or agrees; both kept, and the flag unknown, when they
    disagree."""
    shown = final_image_reused(first, second)
    reported = judgement.final_image_reused
    if reported is None or reported == shown:
        return replace(judgement, final_image_reused=shown)
    conflict = EvidenceConflict(fact=FINAL_IMAGE_REUSED, report=reported, images=shown)
    return replace(judgement, final_image_reused=None, conflict=conflict)
