"""Parallel cells on a real engine give the same answers as the same cells one by one."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.app.matrixrun import run_matrix
from harness.app.runner import CellRunner
from harness.app.store import ResultStore
from harness.core.labels import cell_filter
from harness.core.model import CellResult, CellSpec

pytestmark = pytest.mark.engine

# Two venvs, each needed by two cells (so parallel cells wait for one install), and both
# answers: the seed diverges before 1.28 by default and shares with root-owned files or
# with the CLI build.
CELLS = [
    CellSpec(compose="1.20.0"),
    CellSpec(compose="1.20.0", scenario="root-owned"),
    CellSpec(compose="1.25.5"),
    CellSpec(compose="1.25.5", cli_build="1"),
]


def _answers(results: list[CellResult]) -> list[tuple[str, int | None]]:
    return [(r.verdict.value, r.diverged_at.step if r.diverged_at else None) for r in results]


def test_parallel_verdicts_equal_sequential_ones(runner: CellRunner, tmp_path: Path) -> None:
    parallel_lines: list[str] = []
    parallel = run_matrix(
        CELLS, runner, ResultStore(tmp_path / "parallel"), progress=parallel_lines.append, jobs=2
    )
    sequential = run_matrix(CELLS, runner, ResultStore(tmp_path / "sequential"), jobs=1)
    assert _answers(parallel) == _answers(sequential)
    assert [r.verdict.value for r in parallel] == ["diverged", "shared", "diverged", "shared"]
    assert len({r.cell_id for r in parallel + sequential}) == 8  # every cell really ran
    assert len(parallel_lines) == 4 and all("(stored)" not in line for line in parallel_lines)
    client = runner.engine.client
    assert all(
        client.images.list(all=True, filters=cell_filter(r.cell_id or "")) == [] for r in parallel
    )
