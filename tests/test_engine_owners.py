"""The private engine's owner protocol (issue #20.2), with real runs on a real dockerd: runs
started together, staggered and killed share one daemon, and the last one out stops it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.edges.engine import ManagedDockerd

pytestmark = [pytest.mark.engine, pytest.mark.dockerd]

# A run: takes its lease, says the daemon's pid, uses the engine until told to leave.
RUN = """
import sys, time
from collections.abc import Iterator
from pathlib import Path
from harness.edges.engine import ManagedDockerd, connect
state, leave = Path(sys.argv[1]), Path(sys.argv[2])
with connect(managed=ManagedDockerd(state), log=lambda line: None) as engine:
    print(engine.client.info()["ID"] and ManagedDockerd(state).running_pid(), flush=True)
    while not leave.exists():
        assert engine.client.ping()
        engine.client.images.list()
        time.sleep(0.1)
print("left", flush=True)
"""


class Run:
    def __init__(self, state: Path, name: str) -> None:
        self.leave = state.parent / f"leave-{name}"
        self.process = subprocess.Popen(
            [sys.executable, "-c", RUN, str(state), str(self.leave)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )

    def daemon(self) -> int:
        assert self.process.stdout is not None
        return int(self.process.stdout.readline())

    def finish(self) -> None:
        self.leave.touch()
        assert self.process.wait(90) == 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] not in "ZX"


@pytest.fixture
def state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("o") / "e"
    yield folder
    ManagedDockerd(folder).stop()  # whatever a failed assertion left running


def test_runs_started_together_share_one_daemon_and_the_last_out_stops_it(state: Path) -> None:
    first, second = Run(state, "a"), Run(state, "b")
    pid = first.daemon()
    assert second.daemon() == pid
    first.finish()
    time.sleep(0.5)
    assert _alive(pid)  # the other run still builds on it
    second.finish()
    assert not _alive(pid)


def test_a_staggered_run_keeps_the_daemon_its_starter_leaves(state: Path) -> None:
    first = Run(state, "a")
    pid = first.daemon()
    second = Run(state, "b")
    assert second.daemon() == pid
    first.finish()  # the run that started the daemon leaves first
    time.sleep(1)
    assert _alive(pid) and second.process.poll() is None
    third = Run(state, "c")
    assert third.daemon() == pid
    second.finish()
    third.finish()
    assert not _alive(pid)
    again = Run(state, "d")  # a later run starts a fresh one
    fresh = again.daemon()
    assert fresh != pid and _alive(fresh)
    again.finish()
    assert not _alive(fresh)


def test_the_daemon_of_a_killed_run_is_adopted_and_stopped_by_the_next(state: Path) -> None:
    killed = Run(state, "a")
    pid = killed.daemon()
    killed.process.send_signal(signal.SIGKILL)
    killed.process.wait()
    assert _alive(pid)  # orphaned: nobody holds a lease on it now
    adopter = Run(state, "b")
    assert adopter.daemon() == pid
    adopter.finish()
    assert not _alive(pid)
