"""Leftovers of killed runs: removed by the next run; a live run's and unlabelled objects kept."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from harness.core.labels import CELL, HARNESS, RUN, parse_run, run_label
from harness.edges.engine import Engine
from harness.edges.runs import (
    current_run,
    process_started,
    remove_orphans,
    run_is_gone,
    stop_orphan_processes,
)

ROOT = Path(__file__).resolve().parent.parent
HOST = socket.gethostname()


def test_run_labels_round_trip_and_name_this_process() -> None:
    assert parse_run(run_label("h:x", 42, "777")) == ("h:x", 42, "777")
    assert parse_run("not a run") is None
    host, pid, start = parse_run(current_run()) or ("", 0, "")
    assert (host, pid) == (HOST, os.getpid()) and start == process_started(os.getpid())


def test_only_a_run_of_this_host_whose_process_is_gone_counts_as_gone() -> None:
    def started(pid: int) -> str | None:
        return {10: "500", 11: "600"}.get(pid)

    assert run_is_gone(run_label(HOST, 99, "1"), started)  # no such process
    assert run_is_gone(run_label(HOST, 10, "400"), started)  # pid reused by a later process
    assert not run_is_gone(run_label(HOST, 10, "500"), started)  # alive
    assert not run_is_gone(run_label("elsewhere", 99, "1"), started)  # not ours to judge
    assert not run_is_gone("garbage", started)


def _image(engine: Engine, labels: dict[str, str]) -> str:
    """A tiny image with these labels, made without a registry."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("marker")
        tar.addfile(info, io.BytesIO(b""))
    tag = f"cache-bisect/orphan-test:{len(labels)}-{time.monotonic_ns()}"
    repository, _, name = tag.partition(":")
    changes = [f'LABEL {key}="{value}"' for key, value in labels.items()]
    engine.client.api.import_image_from_data(
        buffer.getvalue(), repository=repository, tag=name, changes=changes
    )
    return engine.client.images.get(tag).id


def _finished_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.engine
def test_orphans_of_a_dead_run_go_and_nothing_else(engine: Engine) -> None:
    dead = run_label(HOST, _finished_pid(), "1")
    images = {
        "dead": _image(engine, {HARNESS: "t", CELL: "c1", RUN: dead}),
        "live": _image(engine, {HARNESS: "t", CELL: "c2", RUN: current_run()}),
        "unlabelled": _image(engine, {HARNESS: "t", CELL: "c3"}),
        "elsewhere": _image(engine, {HARNESS: "t", CELL: "c4", RUN: run_label("x", 1, "1")}),
    }
    try:
        removed = remove_orphans(engine.client)
        assert removed == {dead: 1}
        left = {image.id for image in engine.client.images.list(all=True)}
        assert images["dead"] not in left
        assert {images["live"], images["unlabelled"], images["elsewhere"]} <= left
    finally:
        for image in images.values():
            with contextlib.suppress(Exception):
                engine.client.images.remove(image, force=True)


_KILLED_CELL = """
import sys, time, docker
from harness.edges.baseimage import create_base
client = docker.DockerClient(base_url=sys.argv[1])
print(create_base(client, "busybox", "busybox", sys.argv[2]), flush=True)
time.sleep(600)
"""


@pytest.mark.engine
def test_a_cell_killed_with_sigkill_leaves_images_the_next_run_removes(engine: Engine) -> None:
    cell_id = f"killed{os.getpid()}"
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_CELL, engine.host, cell_id],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    tag = child.stdout.readline().strip()
    assert tag == f"cache-bisect/base:{cell_id}"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    left = engine.client.images.list(filters={"label": f"{CELL}={cell_id}"})
    assert len(left) == 1, "SIGKILL gives the cell no chance to clean up"
    assert parse_run(left[0].labels[RUN])[1] == child.pid  # type: ignore[index]
    removed = remove_orphans(engine.client)
    assert sum(removed.values()) == 1
    assert engine.client.images.list(filters={"label": f"{CELL}={cell_id}"}) == []


_KILLED_INSTALL = """
import os
from harness.edges.process import run
run(["sleep", "600"], env=os.environ, timeout=900)
"""


def _carrying(run_pid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if any(
            item.startswith(b"CACHE_BISECT_RUN=") and f":{run_pid}:".encode() in item
            for item in environ.split(b"\0")
        ):
            pids.append(int(entry.name))
    return pids


def test_children_of_a_killed_run_are_stopped_by_the_next_run() -> None:
    child = subprocess.Popen([sys.executable, "-c", _KILLED_INSTALL], cwd=ROOT)
    deadline = time.monotonic() + 30
    while not _carrying(child.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    survivors = _carrying(child.pid)
    assert survivors, "the child runs in a session of its own and survives the kill"
    assert sorted(stop_orphan_processes()) == sorted(survivors)
    deadline = time.monotonic() + 10
    while any(process_started(pid) for pid in survivors) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(process_started(pid) for pid in survivors)
