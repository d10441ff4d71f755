"""Issue #20, items 3, 4 and 6 on a real engine: the engine lost mid-cell, a run killed
mid-cell, Ctrl-C during repro, and an output that can only fail after the work."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from harness.core.labels import HARNESS, RUN, parse_run
from harness.edges.engine import Engine, ManagedDockerd
from harness.edges.runs import WORKDIR_PREFIX

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.engine
BASE = "cache-bisect-test/slow-base:1"


def _base_image(client: docker.DockerClient) -> None:
    """A FROM image with a shell and sleep (the static busybox), made without a registry."""
    busybox = shutil.which("busybox")
    assert busybox, "the engine tests need busybox-static"
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        tar.add(busybox, arcname="bin/busybox")
        for name in ("sh", "sleep"):
            link = tarfile.TarInfo(f"bin/{name}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    repository, tag = BASE.rsplit(":", 1)
    client.api.import_image_from_data(data.getvalue(), repository=repository, tag=tag)


@pytest.fixture
def slow_project(tmp_path: Path) -> Path:
    """A project whose compose build sits in a RUN step long enough to act during it."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "Dockerfile").write_text(f"FROM {BASE}\nRUN sleep 6\nADD a.txt /a.txt\n")
    (project / "a.txt").write_text("a\n")
    (project / "docker-compose.yml").write_text("services:\n  web:\n    build: .\n")
    return project


@pytest.fixture
def own_engine() -> Iterator[ManagedDockerd]:
    """A dockerd of the test's own (short paths: its exec-root holds sockets), which the
    test may kill; stopped by its pid and removed afterwards."""
    state = Path(tempfile.mkdtemp(prefix="cb-loss-"))
    daemon = ManagedDockerd(state)
    try:
        client = daemon.start()
        _base_image(client)
        client.close()
        yield daemon
    finally:
        daemon.stop()
        subprocess.run(["umount", "-R", str(state / "data")], capture_output=True, check=False)
        shutil.rmtree(state, ignore_errors=True)


def _harness(*args: str, host: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "harness", *args],
        cwd=ROOT,
        env={**os.environ, "DOCKER_HOST": host, "CACHE_BISECT_ENGINE": "external"},
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _until_building(process: subprocess.Popen[str]) -> list[str]:
    """The lines printed up to the compose build's start (the RUN step then runs 6 s)."""
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("building with docker-compose"):
            time.sleep(1.5)
            return lines
    raise AssertionError(f"never built: {''.join(lines)}")


def _workdirs(pid: int) -> list[Path]:
    return list(Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}{pid}-*"))


def _of_run(client: docker.DockerClient, pid: int) -> list[str]:
    """The engine objects a run (by its pid) made and left."""
    found = [
        item.labels.get(RUN, "")
        for listing in (client.images, client.containers)
        for item in listing.list(all=True, filters={"label": RUN})
    ]
    return [run for run in found if (parse_run(run) or ("", 0, ""))[1] == pid]


def _labelled(client: docker.DockerClient) -> int:
    return len(client.images.list(all=True, filters={"label": HARNESS})) + len(
        client.containers.list(all=True, filters={"label": HARNESS})
    )


@pytest.mark.dockerd  # kills an engine of its own mid-build
def test_an_engine_lost_mid_cell_is_one_line_and_the_next_run_clears_what_is_left(
    own_engine: ManagedDockerd, slow_project: Path, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    config = tmp_path / "one.toml"
    config.write_text('[matrix]\ncompose = ["1.29.2"]\n')
    args = ("matrix", "--config", str(config), "--results", str(results), "--jobs", "1")
    project = ("--project", str(slow_project), "--service", "web")

    lost = _harness(*args, *project, host=own_engine.host)
    _until_building(lost)
    assert own_engine.process is not None
    os.killpg(own_engine.process.pid, signal.SIGKILL)  # the engine dies mid-build
    own_engine.process.wait()
    _, err = lost.communicate(timeout=120)
    assert lost.returncode == 1, err
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert err.startswith(f"error: lost the engine {own_engine.host} during the cell of")
    assert "the cell is not stored" in err
    assert not list(results.glob("cells/*.json"))

    client = own_engine.start()  # the same engine back, with what the cell left
    try:
        assert _labelled(client) > 0
        killed = _harness(*args, *project, host=own_engine.host)
        _until_building(killed)
        assert _workdirs(killed.pid), "a cell works in a folder named by its run"
        killed.kill()  # SIGKILL: no cleanup at all
        killed.communicate(timeout=60)
        assert _workdirs(killed.pid)

        done = _harness(*args, *project, host=own_engine.host)
        out, err = done.communicate(timeout=600)
        assert done.returncode == 0, err
        assert "engine objects left by killed runs" in out
        assert "removed 1 work folders left by killed runs" in out
        assert not _workdirs(killed.pid)
        assert _labelled(client) == 0
        assert len(list(results.glob("cells/*.json"))) == 1
    finally:
        client.close()


@pytest.fixture
def slow_base(engine: Engine) -> Iterator[None]:
    """The project's FROM image on the shared test engine, removed afterwards."""
    _base_image(engine.client)
    yield
    engine.client.images.remove(BASE, force=True)


def test_ctrl_c_during_repro_is_one_line_and_leaves_nothing(
    engine: Engine, slow_base: None, slow_project: Path
) -> None:
    project = ("--project", str(slow_project), "--service", "web")
    repro = _harness("repro", "--compose", "1.29.2", *project, host=engine.host)
    _until_building(repro)
    repro.send_signal(signal.SIGINT)
    _, err = repro.communicate(timeout=120)
    assert repro.returncode == 130, err
    assert err == "error: interrupted: the cell's builds were stopped and what it made removed\n"
    assert not _workdirs(repro.pid)
    assert not _of_run(engine.client, repro.pid)


def test_a_json_output_lost_after_the_work_is_printed_instead(
    engine: Engine, slow_base: None, slow_project: Path, tmp_path: Path
) -> None:
    target = tmp_path / "result.json"
    project = ("--project", str(slow_project), "--service", "web")
    repro = _harness(
        "repro", "--compose", "1.29.2", *project, "--json", str(target), host=engine.host
    )
    _until_building(repro)
    target.mkdir()  # the path became a folder during the run: only the write can tell
    out, err = repro.communicate(timeout=300)
    assert repro.returncode == 1, err
    assert "Traceback" not in err and err.count("\n") == 1
    assert err.startswith(f"error: cannot write {target}: ")
    assert "the JSON is on standard output above" in err
    printed = json.loads(out[out.index("\n{") + 1 :])
    assert printed["scenario"] == "project" and printed["verdict"] in ("shared", "diverged")
    assert not _of_run(engine.client, repro.pid)
