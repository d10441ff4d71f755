"""Stages FROM scratch on the real engine (the scratch fixture: a builder stage on the busybox
base, then ``FROM scratch``, ``COPY --from=builder``, ``ADD blah.txt``): judged with the legacy
builder and with BuildKit, every image the cell made removed, and no cache reaching a cell
through its scratch stage from a cell before it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace

import pytest

from harness.app.runner import CellRunner
from harness.core.buildkind import Builders
from harness.core.labels import cell_filter
from harness.core.model import CellResult, CellSpec, Verdict
from harness.edges.engine import Engine
from tests.test_compose_v2_engine import _buildkit_cli

pytestmark = pytest.mark.engine

STAGES = [(1, "builder"), (2, "builder"), (3, "builder"), (4, "1"), (5, "1"), (6, "1")]


@pytest.fixture
def leaves_nothing(engine: Engine) -> Iterator[list[CellResult]]:
    """The cells a test appends: afterwards the engine holds no image or container with their
    label, and no image (dangling or not) it did not hold before."""
    client = engine.client
    before = {image.id for image in client.images.list(all=True)}
    cells: list[CellResult] = []
    yield cells
    assert cells, "the test ran no cell"
    for cell in cells:
        assert cell.cell_id
        assert client.images.list(all=True, filters=cell_filter(cell.cell_id)) == []
        assert client.containers.list(all=True, filters=cell_filter(cell.cell_id)) == []
    left = {image.id for image in client.images.list(all=True)} - before
    assert not left, f"the cells left images behind: {sorted(left)}"


def _legacy_cached(log: str) -> dict[int, bool]:
    """Each ``Step k/N`` the legacy builder printed and whether it said ``Using cache``."""
    chunks = re.split(r"^Step (\d+)/\d+ : ", log, flags=re.M)[1:]
    pairs = zip(chunks[::2], chunks[1::2], strict=True)
    return {int(step): "Using cache" in text for step, text in pairs}


def _buildkit_cached(log: str) -> dict[str, bool]:
    """Each BuildKit step (``[stage n/N] instruction``) and whether plain progress said
    ``CACHED`` (compose 2.x names the service first: ``[test stage-1 2/3]``)."""
    names = re.findall(r"^#(\d+) \[(?:test )?([^\]]+)\] (.+)$", log, flags=re.M)
    cached = set(re.findall(r"^#(\d+) CACHED$", log, flags=re.M))
    return {f"[{vertex}] {step}": number in cached for number, vertex, step in names}


COPY = "[stage-1 2/3] COPY --from=builder /src/app /app"
ADD = "[stage-1 3/3] ADD blah.txt /blah.txt"
BUILDKIT = CellSpec(compose="2.40.3", builder=Builders.parse("buildkit"), scenario="scratch")


def test_legacy_misses_at_the_add_of_the_scratch_stage(
    runner: CellRunner, leaves_nothing: list[CellResult]
) -> None:
    cell = runner.run(CellSpec(compose="1.29.2", cli_build="0", scenario="scratch"))
    leaves_nothing.append(cell)
    assert cell.verdict is Verdict.DIVERGED, cell.reason
    assert cell.diverged_at is not None
    assert (cell.diverged_at.step, cell.diverged_at.stage) == (6, "1")
    assert cell.diverged_at.instruction == "ADD blah.txt /blah.txt"
    assert [(step.step, step.stage) for step in cell.steps] == STAGES
    assert cell.steps[3].instruction == "FROM scratch"  # the user's line, not the stand-in
    assert [step.shared for step in cell.steps] == [True] * 5 + [False]
    for side in ("compose", "cli"):  # as the engine printed it, on the cell's stand-in
        assert f"Step 4/6 : FROM cache-bisect/scratch:{cell.cell_id}" in cell.logs[side]
        assert "Step 6/6 : ADD blah.txt /blah.txt" in cell.logs[side]
    cli = _legacy_cached(cell.logs["cli"])
    assert [cli[step] for step in range(2, 7)] == [True, True, False, True, False]


def test_buildkit_shares_every_step_of_both_stages(
    runner: CellRunner, leaves_nothing: list[CellResult]
) -> None:
    bk = replace(runner, cli=_buildkit_cli())
    cell = bk.run(BUILDKIT)
    leaves_nothing.append(cell)
    assert cell.verdict is Verdict.SHARED, cell.reason
    assert [(step.step, step.stage) for step in cell.steps] == STAGES
    assert cell.steps[3].instruction == "FROM scratch"
    cli = _buildkit_cached(cell.logs["cli"])
    assert [cli["[builder 2/3] WORKDIR /src"], cli[COPY], cli[ADD]] == [True, True, True]


def test_no_cell_reuses_an_earlier_cells_scratch_stage(
    runner: CellRunner, leaves_nothing: list[CellResult]
) -> None:
    """BuildKit keeps its cache records after the images are gone and keys ``scratch`` by an
    empty layer chain: without a stand-in of the cell's own, the second cell's first build
    would find the first cell's COPY --from and ADD as CACHED. (The legacy builder's cache is
    the images, which the first cell removed.)"""
    bk = replace(runner, cli=_buildkit_cli())
    for _ in range(2):
        cell = bk.run(BUILDKIT)
        leaves_nothing.append(cell)
        assert cell.verdict is Verdict.SHARED, cell.reason
        assert f"FROM docker.io/cache-bisect/scratch:{cell.cell_id}" in cell.logs["compose"]
        first = _buildkit_cached(cell.logs["compose"])
        assert [first[COPY], first[ADD]] == [False, False], cell.logs["compose"]
