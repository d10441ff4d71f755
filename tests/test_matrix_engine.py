"""The matrix on a real engine: cells stored at once, reused on rerun, resumed after Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.app.runner import CellRunner
from harness.app.store import ResultStore
from harness.cli.matrix import run_matrix
from harness.core.labels import HARNESS
from harness.core.model import CellSpec
from harness.edges.engine import Engine

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.engine


def test_rerun_reuses_stored_cells_and_interruption_loses_nothing(
    runner: CellRunner, tmp_path: Path
) -> None:
    store = ResultStore(tmp_path / "cells")
    cells = [CellSpec(compose="1.20.0"), CellSpec(compose="1.20.0", scenario="root-owned")]
    lines: list[str] = []

    def interrupt_after_first(line: str) -> None:
        lines.append(line)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_matrix(cells, runner, store, progress=interrupt_after_first)
    assert len(list(store.root.glob("*.json"))) == 1

    lines.clear()
    results = [r.to_json() for r in run_matrix(cells, runner, store, progress=lines.append)]
    assert "(stored)" in lines[0] and "(stored)" not in lines[1]
    assert [r["verdict"] for r in results] == ["diverged", "shared"]
    assert len(list(store.root.glob("*.json"))) == 2

    lines.clear()
    again = [r.to_json() for r in run_matrix(cells, runner, store, progress=lines.append)]
    assert all("(stored)" in line for line in lines)
    assert [r["cell_id"] for r in again] == [r["cell_id"] for r in results]

    lines.clear()
    forced = [
        r.to_json() for r in run_matrix(cells[:1], runner, store, force=True, progress=lines.append)
    ]
    assert "(stored)" not in lines[0]
    assert forced[0]["cell_id"] != results[0]["cell_id"]


def _matrix(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "harness", "matrix", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_matrix_command_tables_and_ctrl_c(engine: Engine, tmp_path: Path) -> None:
    config = tmp_path / "small.toml"
    config.write_text(  # no [compat]: the harness's own rules apply
        '[matrix]\ncompose = ["1.20.0", "1.20.1"]\ncli_build = ["default", "1"]\n'
    )
    results = tmp_path / "results"
    env = {"DOCKER_HOST": engine.host}
    args = ("--config", str(config), "--results", str(results), "--jobs", "2")

    process = _matrix(*args, env=env)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not list((results / "cells").glob("*.json")):
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "interrupted: every finished cell is stored" in stderr
    assert "Traceback" not in stderr
    assert engine.client.images.list(all=True, filters={"label": HARNESS}) == []
    stored = len(list((results / "cells").glob("*.json")))
    assert 1 <= stored < 4

    done = _matrix(*args, env=env)
    stdout, stderr = done.communicate(timeout=900)
    assert done.returncode == 0, stderr
    assert stdout.count("(stored)") == stored
    document = json.loads((results / "matrix.json").read_text())
    assert document["schema"] == 1 and len(document["cells"]) == 4
    assert {(c["compose"], c["cli_build"]) for c in document["cells"]} == {
        ("1.20.0", "default"),
        ("1.20.0", "1"),
        ("1.20.1", "default"),
        ("1.20.1", "1"),
    }
    assert all(c["verdict"] == "diverged" for c in document["cells"])  # CLI build needs >=1.25
    markdown = (results / "matrix.md").read_text()
    assert "| 1.20.0 (SDK" in markdown and "| 1.20.1 (SDK" in markdown

    rerun = _matrix(*args, env=env)
    stdout, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0
    assert stdout.count("(stored)") == 4
