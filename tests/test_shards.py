"""Shards: a deterministic, balanced split that keeps venvs whole, and a merge that refuses
cells of another matrix or harness."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness import __version__
from harness.app.merge import merge_shards, write_manifest
from harness.app.store import ResultStore
from harness.core.errors import UserError
from harness.core.matrix import cell_id
from harness.core.model import CellResult, CellSpec
from harness.core.shards import Shard, assign_shards, parse_shard, shard_cells, venv_group
from tests.factories import cell_result

CONDITIONS = ["default", "0", "1"]
matrices = st.lists(
    st.tuples(
        st.sampled_from(["1.19.0", "1.20.1", "1.25.5", "1.28.6"]),
        st.sampled_from(["auto", "4.0.2"]),
        st.sampled_from(CONDITIONS),
    ),
    unique=True,
    max_size=24,
).map(lambda rows: [CellSpec(compose=c, sdk=s, cli_build=b) for c, s, b in rows])


@given(matrices, st.integers(min_value=1, max_value=6))
def test_shards_partition_the_matrix_keep_venvs_whole_and_balance(
    cells: list[CellSpec], count: int
) -> None:
    shards = assign_shards(cells, count)
    assert len(shards) == count
    assert Counter(spec for shard in shards for spec in shard) == Counter(cells)
    for shard in shards:  # matrix order inside each shard
        assert shard == [spec for spec in cells if spec in shard]
    owners = {venv_group(spec): n for n, shard in enumerate(shards) for spec in shard}
    for n, shard in enumerate(shards):
        assert all(owners[venv_group(spec)] == n for spec in shard)
    largest = max(Counter(venv_group(spec) for spec in cells).values(), default=0)
    sizes = [len(shard) for shard in shards]
    assert max(sizes) - min(sizes) <= largest
    assert assign_shards(list(cells), count) == shards  # deterministic


def test_default_matrix_halves_are_even() -> None:
    cells = [CellSpec(compose=f"1.{m}.0", cli_build=b) for m in range(19, 30) for b in CONDITIONS]
    first, second = (shard_cells(cells, Shard(k, 2)) for k in (1, 2))
    assert (len(first), len(second)) == (18, 15)
    assert not {s.compose for s in first} & {s.compose for s in second}


@pytest.mark.parametrize("text", ["0/2", "3/2", "1", "a/b", "1/0", "-1/2"])
def test_bad_shards_are_refused(text: str) -> None:
    with pytest.raises(UserError):
        parse_shard(text)
    assert parse_shard(" 2/3 ") == Shard(2, 3)


MATRIX = [CellSpec(compose="1.20.1", cli_build=b) for b in CONDITIONS] + [
    CellSpec(compose="1.28.6", cli_build=b) for b in CONDITIONS
]
VERDICTS = {"default": "diverged", "0": "diverged", "1": "shared"}


def _run_shard(root: Path, shard: Shard, matrix: list[CellSpec] = MATRIX) -> Path:
    """What a shard run leaves: its cells stored by key and its manifest."""
    store = ResultStore(root / "cells")
    ran = shard_cells(matrix, shard)
    results = [store.put(f"key-{cell_id(spec)}", _result(spec)) for spec in ran]
    write_manifest(root, shard, matrix, ran, results, "matrix.toml")
    return root


def _result(spec: CellSpec) -> CellResult:
    verdict = VERDICTS[spec.cli_build]
    return cell_result(spec.compose, verdict, 3, cli_build=spec.cli_build, harness=__version__)


def test_merge_combines_the_shards_in_matrix_order(tmp_path: Path) -> None:
    folders = [_run_shard(tmp_path / f"s{k}", Shard(k, 2)) for k in (1, 2)]
    into = ResultStore(tmp_path / "merged" / "cells")
    merged = merge_shards(folders, MATRIX, into=into)
    assert [(c.compose, c.cli_build, c.verdict.value) for c in merged] == [
        (s.compose, s.cli_build, VERDICTS[s.cli_build]) for s in MATRIX
    ]
    assert len(list(into.root.glob("*.json"))) == 6


def test_merge_refuses_missing_shards_other_matrices_and_harnesses(tmp_path: Path) -> None:
    one = _run_shard(tmp_path / "s1", Shard(1, 2))
    with pytest.raises(UserError, match="in no shard given"):
        merge_shards([one], MATRIX)
    other = _run_shard(tmp_path / "other", Shard(2, 2), MATRIX[:5])
    with pytest.raises(UserError, match="different matrix"):
        merge_shards([one, other], MATRIX)
    two = _run_shard(tmp_path / "s2", Shard(2, 2))
    manifest = two / "shard-2-of-2.json"
    data = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**data, "harness": "0.0.1"}))
    with pytest.raises(UserError, match=r"harness 0\.0\.1"):
        merge_shards([one, two], MATRIX)
    manifest.write_text(json.dumps(data))
    stored = next((two / "cells").glob("*.json"))
    cell = json.loads(stored.read_text())
    stored.write_text(json.dumps({**cell, "harness": "0.0.1"}))
    with pytest.raises(UserError, match=r"comes from harness 0\.0\.1"):
        merge_shards([one, two], MATRIX)
    with pytest.raises(UserError, match="not the results of a --shard run"):
        merge_shards([tmp_path], MATRIX)


def test_a_shard_s_unstored_cell_travels_in_its_manifest_and_a_bad_one_is_named(
    tmp_path: Path,
) -> None:
    ran = shard_cells(MATRIX, Shard(1, 1))
    results = [_result(spec) for spec in ran]  # errors and timeouts are not stored: no key
    path = write_manifest(tmp_path, Shard(1, 1), MATRIX, ran, results, "matrix.toml")
    data = json.loads(path.read_text())
    assert list(data) == ["schema", "shard", "matrix", "harness", "config", "cells"]
    assert data["shard"] == "1/1" and data["cells"][0]["key"] is None
    assert data["cells"][0]["result"]["compose"] == "1.20.1"
    assert merge_shards([tmp_path], MATRIX) == results
    data["cells"][1]["result"]["verdict"] = "shared"  # a diverged cell's step, now shared
    path.write_text(json.dumps(data))
    with pytest.raises(UserError, match=r"diverged_at.* @ \$\.cells\[1\]\.result") as error:
        merge_shards([tmp_path], MATRIX)
    assert str(path) in str(error.value) and "\n" not in str(error.value)
