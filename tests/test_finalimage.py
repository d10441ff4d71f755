"""The final images as a second witness for BuildKit's step report: reused means the same
layers and history entry by entry, labels aside; a report the images contradict is kept
beside them, never overruled or taken."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from harness.core.finalimage import corroborate, final_image_reused
from harness.core.history import HistoryEntry, ImageState, image_state
from harness.core.model import CellResult, EvidenceConflict, Verdict
from harness.core.verdict import Judgement
from harness.present.words import conflict_note, mark, verdict_phrase
from tests.factories import cell_result

_TIMES = st.integers(0, 10**9).map(lambda n: f"2026-12-03T16:31:34.{n:09d}Z")


@st.composite
def images(draw: st.DrawFn) -> ImageState:
    """A final image: the base's layer, then the final stage's entries, some config-only."""
    kinds = draw(st.lists(st.booleans(), min_size=1, max_size=6))  # True: an empty layer
    history = tuple(
        HistoryEntry(draw(_TIMES), f"RUN step {i} # buildkit", empty)
        for i, empty in enumerate([False, *kinds])
    )
    layers = tuple(
        f"sha256:{draw(st.integers(0, 2**32)):064x}" for e in history if not e.empty_layer
    )
    return ImageState(history, layers)


@given(images())
def test_an_image_against_itself_is_reused(image: ImageState) -> None:
    assert final_image_reused(image, image) is True


@given(images(), st.data())
def test_a_layer_step_with_a_new_time_or_layer_is_not_reused(
    image: ImageState, data: st.DataObject
) -> None:
    with_layer = [i for i, e in enumerate(image.history) if not e.empty_layer]
    at = data.draw(st.sampled_from(with_layer))
    entry = image.history[at]
    digit = "1" if entry.created[-2] != "1" else "2"
    later = replace(entry, created=entry.created[:-2] + digit + "Z")
    retimed = replace(image, history=(*image.history[:at], later, *image.history[at + 1 :]))
    assert final_image_reused(image, retimed) is False
    layer = with_layer.index(at)
    other = "sha256:" + "f" * 64 if image.layers[layer] != "sha256:" + "f" * 64 else "sha256:0"
    relayered = replace(image, layers=(*image.layers[:layer], other, *image.layers[layer + 1 :]))
    assert final_image_reused(image, relayered) is False


@given(images())
def test_a_step_more_is_not_reused(image: ImageState) -> None:
    longer = ImageState((*image.history, HistoryEntry("", "ENV A=1", True)), image.layers)
    assert final_image_reused(image, longer) is False
    assert final_image_reused(longer, image) is False


def _config(labels: dict[str, str] | None, run_time: str) -> dict[str, object]:
    """The multistage fixture's final image config as Engine 20.10 stored it for compose
    2.40.3 (its labels) and for the CLI (none): BuildKit, built by hand."""
    return {
        "config": {"Labels": labels},
        "history": [
            {"created": "2026-12-03T16:31:32.609509746Z"},
            {"created": "2026-12-03T16:31:34.338010923Z",
             "created_by": "COPY /src/app /usr/local/bin/app # buildkit"},
            {"created": "2026-12-03T16:31:34.403306269Z",
             "created_by": "COPY /src/blah.txt /usr/src/blah.txt # buildkit"},
            {"created": run_time, "created_by": "RUN /bin/sh -c echo done > /etc/done # buildkit"},
        ],
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{i:064x}" for i in range(4)]},
    }  # fmt: skip


COMPOSE_LABELS = {"com.docker.compose.project": "evp", "com.docker.compose.version": "2.40.3"}


def test_compose_s_labels_do_not_make_an_image_new() -> None:
    compose = image_state(_config(COMPOSE_LABELS, "2026-12-03T16:31:34.598831088Z"))
    cli = image_state(_config(None, "2026-12-03T16:31:34.598831088Z"))
    rerun = image_state(_config(None, "2026-12-03T16:40:01.000000001Z"))
    assert final_image_reused(compose, cli) is True
    assert final_image_reused(compose, rerun) is False


@given(images(), st.booleans(), st.sampled_from([Verdict.SHARED, Verdict.DIVERGED]))
def test_agreeing_evidence_keeps_the_flag_and_disagreeing_evidence_keeps_both(
    image: ImageState, same: bool, verdict: Verdict
) -> None:
    longer = ImageState((*image.history, HistoryEntry("", "ENV A=1", True)), image.layers)
    other = image if same else longer
    for reported in (True, False, None):
        checked = corroborate(Judgement(verdict, final_image_reused=reported), image, other)
        assert checked.verdict is verdict  # the images never rewrite the step verdict
        if reported is None or reported is same:
            assert (checked.final_image_reused, checked.conflict) == (same, None)
        else:
            assert checked.final_image_reused is None
            assert checked.conflict == EvidenceConflict("final_image_reused", reported, same)


def test_a_conflict_is_said_and_marked_and_stored() -> None:
    conflict = EvidenceConflict("final_image_reused", report=True, images=False)
    result: CellResult = cell_result("2.40.3", "shared", conflict=conflict)
    note = conflict_note(conflict)
    assert "step report says the final image was reused" in note
    assert "final images show it not reused" in note
    assert mark(result).endswith("⁉") and "⁉" in verdict_phrase(result)
    assert CellResult.from_json(result.to_json()).conflict == conflict
    assert "conflict" not in cell_result("2.40.3", "shared").to_json()  # absent unless there is one
