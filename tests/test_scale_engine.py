"""Scaling out on real engines: a stored rerun starts no engine, and cells spread over two
engines give the answers one engine gives."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import docker.constants
import pytest

from harness.app.matrixrun import run_matrix
from harness.app.runner import CellRunner
from harness.app.store import ResultStore
from harness.core.labels import cell_filter
from harness.core.model import CellResult, CellSpec
from harness.edges.engine import Engine, ManagedDockerd, connect
from harness.edges.paths import engine_named

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.engine

CELLS = [
    CellSpec(compose="1.20.0"),
    CellSpec(compose="1.20.0", scenario="root-owned"),
    CellSpec(compose="1.25.5"),
    CellSpec(compose="1.25.5", cli_build="1"),
]


def _config(tmp_path: Path, body: str) -> Path:
    """A small matrix file; the compat rules ship with the harness."""
    config = tmp_path / "small.toml"
    config.write_text(f"[matrix]\n{body}\n")
    return config


def _matrix(*args: str, env: Mapping[str, str | None]) -> subprocess.CompletedProcess[str]:
    """Run the matrix with ``env`` over ours; a ``None`` value unsets that variable."""
    merged = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "-m", "harness", "matrix", *args],
        cwd=ROOT,
        env={key: value for key, value in merged.items() if value is not None},
        text=True,
        capture_output=True,
        timeout=900,
    )


@pytest.mark.dockerd  # the harness starts its own private engine: DOCKER_HOST is unset
def test_a_fully_stored_rerun_starts_no_engine(private_cache: Path, tmp_path: Path) -> None:
    """With the private engine: the first run starts it, the rerun only reads the store, under
    the very keys the running engine gave."""
    config = _config(tmp_path, 'compose = ["1.20.0"]\ncli_build = ["default", "1"]')
    # No DOCKER_HOST (a named engine that does not answer stops the run) and nothing at the
    # default socket: the harness starts its private engine.
    default_socket = Path(docker.constants.DEFAULT_UNIX_SOCKET.removeprefix("http+unix://"))
    assert not default_socket.exists(), "an engine listens at the default socket"
    env: dict[str, str | None] = {"DOCKER_HOST": None, "CACHE_BISECT_ENGINE": "auto"}
    args = ("--config", str(config), "--results", str(tmp_path / "results"))
    first = _matrix(*args, env=env)
    assert first.returncode == 0, first.stderr
    assert "starting a private dockerd" in first.stdout
    built = json.loads((tmp_path / "results" / "matrix.json").read_text())["cells"]
    daemon_log = private_cache / "engine" / "dockerd.log"
    log_size = daemon_log.stat().st_size

    rerun = _matrix(*args, env=env)
    assert rerun.returncode == 0, rerun.stderr
    assert "starting a private dockerd" not in rerun.stdout
    assert rerun.stdout.count("(stored)") == 2
    assert daemon_log.stat().st_size == log_size  # no dockerd wrote a line: none started
    again = json.loads((tmp_path / "results" / "matrix.json").read_text())["cells"]
    assert [c["store_key"] for c in again] == [c["store_key"] for c in built]
    assert all(c["engine"]["managed"] for c in again)


@pytest.fixture
def two_engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Engine]]:
    """Two private engines of the test's own, stopped by their pids afterwards."""
    daemons = [ManagedDockerd(tmp_path_factory.mktemp(name)) for name in ("ea", "eb")]
    try:
        for daemon in daemons:
            daemon.start().close()
        with connect(host=daemons[0].host) as first, connect(host=daemons[1].host) as second:
            yield [first, second]
    finally:
        for daemon in daemons:
            daemon.stop()


def _events(engine: Engine, cell_id: str, since: int, until: int) -> int:
    """How many engine events carried this cell's label (its containers and images)."""
    events = engine.client.events(
        since=since, until=until, filters=cell_filter(cell_id), decode=True
    )
    return sum(1 for _ in events)


def _answers(results: list[CellResult]) -> list[tuple[str, int | None]]:
    return [(r.verdict.value, r.diverged_at.step if r.diverged_at else None) for r in results]


def test_cells_spread_over_two_engines_answer_as_one_engine(
    runner: CellRunner, two_engines: list[Engine], tmp_path: Path
) -> None:
    runners = [dataclasses.replace(runner, engine=engine) for engine in two_engines]
    since = int(time.time()) - 1
    spread = run_matrix(CELLS, runners, ResultStore(tmp_path / "spread"), jobs=2)
    single = run_matrix(CELLS, runners[:1], ResultStore(tmp_path / "single"), jobs=1)
    assert _answers(spread) == _answers(single)
    assert [r.verdict.value for r in spread] == ["diverged", "shared", "diverged", "shared"]
    hosts = [engine_named(engine.host) for engine in two_engines]  # no place of this machine
    assert len(set(hosts)) == 2 and all(str(h).startswith("unix://<socket-") for h in hosts)
    assert {r.engine.name for r in spread} == set(hosts)  # both engines built cells
    until = int(time.time()) + 1
    for result in spread:  # each cell wholly on the engine it names: its events are there only
        seen = [_events(engine, result.cell_id or "", since, until) for engine in two_engines]
        named = hosts.index(result.engine.name or "")
        assert seen[named] > 0 and seen[1 - named] == 0, (result.engine.name, seen)
    assert {r.engine.name for r in single} == {hosts[0]}


@pytest.mark.dockerd  # two private engines of its own
def test_matrix_command_takes_several_engines(two_engines: list[Engine], tmp_path: Path) -> None:
    config = _config(tmp_path, 'compose = ["1.20.0"]\ncli_build = ["default", "1"]')
    hosts = [engine.host for engine in two_engines]
    done = _matrix(
        "--config", str(config), "--results", str(tmp_path / "r"), "--jobs", "2",
        env={"CACHE_BISECT_ENGINES": ",".join(hosts), "CACHE_BISECT_ENGINE": "external"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    cells = json.loads((tmp_path / "r" / "matrix.json").read_text())["cells"]
    assert [c["verdict"] for c in cells] == ["diverged", "diverged"]
    names = {c["engine"]["name"] for c in cells}  # both engines, by no place of this machine
    assert names == {engine_named(host) for host in hosts} and len(names) == 2
    assert not any(host.removeprefix("unix://") in json.dumps(cells) for host in hosts)


def test_two_shards_merged_equal_one_run(engine: Engine, tmp_path: Path) -> None:
    config = _config(tmp_path, 'compose = ["1.20.0", "1.25.5"]\ncli_build = ["default", "1"]')
    env = {"DOCKER_HOST": engine.host}
    base = ("--config", str(config), "--jobs", "2")
    for shard in ("1/2", "2/2"):
        ran = _matrix(*base, "--results", str(tmp_path / shard[0]), "--shard", shard, env=env)
        assert ran.returncode == 0, ran.stderr
        assert f"shard {shard}: 2 of 4 cells" in ran.stdout  # one venv (two cells) each
    merged = _matrix(*base, "--results", str(tmp_path / "m"), "--merge",
                     str(tmp_path / "1"), str(tmp_path / "2"), env=env)  # fmt: skip
    assert merged.returncode == 0, merged.stderr
    single = _matrix(*base, "--results", str(tmp_path / "s"), env=env)
    assert single.returncode == 0, single.stderr

    def answers(folder: str) -> list[tuple[str, str, str, int | None]]:
        cells = json.loads((tmp_path / folder / "matrix.json").read_text())["cells"]
        return [
            (c["compose"], c["cli_build"], c["verdict"], (c["diverged_at"] or {}).get("step"))
            for c in cells
        ]

    assert answers("m") == answers("s")
    assert [a[2] for a in answers("m")] == ["diverged", "diverged", "diverged", "shared"]
    assert (tmp_path / "m" / "matrix.md").read_text() == (tmp_path / "s" / "matrix.md").read_text()
    alone = _matrix(
        *base, "--results", str(tmp_path / "x"), "--merge", str(tmp_path / "1"), env=env
    )
    assert alone.returncode == 2 and "in no shard given (1/2)" in alone.stderr
