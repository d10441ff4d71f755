"""Parallel cells without an engine: the jobs option, one install per venv, whole lines."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from harness.app.matrixrun import Progress
from harness.app.session import engine_hosts
from harness.cli.matrix import parser
from harness.core.compat import InstallPlan
from harness.core.config import ConfigError, default_jobs, parse_config
from harness.core.model import CellSpec
from harness.edges import process
from harness.edges.venvs import EnvironmentFactory, InstallFailure
from tests.factories import cell_result


def test_jobs_default_to_the_cpus_capped_and_are_validated() -> None:
    assert default_jobs(None) == 1
    assert default_jobs(2) == 2
    assert default_jobs(64) == 8
    assert parse_config('[matrix]\ncompose = ["1.20.0"]\n[run]\njobs = 3\n').run.jobs == 3
    assert parse_config('[matrix]\ncompose = ["1.20.0"]\n').run.jobs is None
    for bad in ("0", "true", "2.5", '"4"'):
        with pytest.raises(ConfigError, match=r"matrix.toml:4: \[run\] jobs: must be a whole"):
            parse_config(f'[matrix]\ncompose = ["1.20.0"]\n[run]\njobs = {bad}\n')
    assert parser().parse_args(["-j", "2"]).jobs == 2
    assert parser().parse_args(["--jobs", "5"]).jobs == 5
    with pytest.raises(SystemExit):
        parser().parse_args(["--jobs", "0"])


def _plan(compose: str) -> InstallPlan:
    return InstallPlan(compose=compose, sdk="auto", python="3.11", cutoff=None)


def test_one_venv_is_installed_by_one_cell_while_the_other_waits(tmp_path: Path) -> None:
    factory = EnvironmentFactory(tmp_path / "venvs")
    inside: dict[str, int] = {}
    most: dict[str, int] = {}
    guard = threading.Lock()

    def fake_install(plan: InstallPlan, path: Path) -> InstallFailure:
        with guard:
            inside[plan.compose] = inside.get(plan.compose, 0) + 1
            most[plan.compose] = max(most.get(plan.compose, 0), inside[plan.compose])
        time.sleep(0.3)
        with guard:
            inside[plan.compose] -= 1
        return InstallFailure("fake", "fake")

    factory._ensure = fake_install  # type: ignore[method-assign]
    plans = [_plan("1.20.0"), _plan("1.20.0"), _plan("1.21.0"), _plan("1.21.0")]
    threads = [threading.Thread(target=factory.ensure, args=(plan,)) for plan in plans]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == {"1.20.0": 1, "1.21.0": 1}  # never two installs of one venv at once
    assert time.monotonic() - started < 1.0  # but different venvs install side by side


def test_progress_is_one_whole_line_per_finished_cell_from_many_threads() -> None:
    lines: list[str] = []
    progress = Progress(40, jobs=4, report=lines.append)
    spec = CellSpec(compose="1.20.0")
    result = cell_result("1.20.0", "diverged", 3)

    def finish(count: int) -> None:
        for _ in range(count):
            progress.done(spec, result, 0.5)

    threads = [threading.Thread(target=finish, args=(10,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [line.split("]")[0] for line in lines] == [f"[{n:>2}/40" for n in range(1, 41)]
    assert lines[-1].endswith("ETA 0:00")
    assert "ETA 0:04" in lines[0]  # 39 cells left, 0.5 s each, 4 at once: 4.9 s


def test_engines_come_from_the_options_else_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CACHE_BISECT_ENGINES", " tcp://a:2375, ssh://b ,,tcp://a:2375")
    assert engine_hosts(None) == ["tcp://a:2375", "ssh://b"]
    args = parser().parse_args(["--engine", "unix:///x.sock", "--engine", "tcp://c:2375"])
    assert engine_hosts(args.engine) == ["unix:///x.sock", "tcp://c:2375"]
    monkeypatch.delenv("CACHE_BISECT_ENGINES")
    assert engine_hosts(None) == []  # the one engine DOCKER_HOST names or a private one


def test_stopping_children_interrupts_the_cells_running_in_other_threads() -> None:
    outcome: list[str] = []

    def cell() -> None:
        try:
            process.run(["sleep", "30"], env=os.environ, timeout=60)
            outcome.append("finished")
        except KeyboardInterrupt:
            outcome.append("interrupted")

    thread = threading.Thread(target=cell)
    started = time.monotonic()
    thread.start()
    time.sleep(0.5)
    try:
        process.stop_children()
        thread.join(10)
        assert outcome == ["interrupted"] and time.monotonic() - started < 5
        with pytest.raises(KeyboardInterrupt):  # and no new child starts
            process.run(["true"], env=os.environ, timeout=10)
    finally:
        process.allow_children()
    assert process.run(["true"], env=os.environ, timeout=10).ok
