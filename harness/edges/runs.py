"""Which run made an engine object, a process or a work folder, and clearing what killed
runs left behind.

A run is ``host:pid:start``. SIGKILL gives a run no chance to remove its cell's images, its
cells' work folders or stop its uv / docker-compose children (they run in sessions of their
own), so every run first stops processes and removes engine objects and work folders of runs
on this host that are no longer alive. Children carry their run in ``CACHE_BISECT_RUN``,
engine objects in a label, work folders in their name. Anything without our run marker, other
hosts' and live runs' things are never touched.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import signal
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from harness.core.labels import RUN, parse_run, run_label

if TYPE_CHECKING:  # the docker SDK loads only when engine objects are touched: a stored rerun
    import docker  # never touches one, and starts faster without it

RUN_ENV = "CACHE_BISECT_RUN"


def process_started(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (from /proc), or None if there is
    no such process; "?" if it cannot be read."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return "?"
    fields = text[text.rindex(")") + 2 :].split()  # the name may hold spaces and parentheses
    if fields[0] in ("Z", "X"):  # dead, only not yet reaped
        return None
    return fields[19]  # field 22 of proc(5), counted after the name


def _started_without_proc(pid: int) -> str | None:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return "?"
    return "?"


def _started(pid: int) -> str | None:
    if Path("/proc/self/stat").exists():
        return process_started(pid)
    return _started_without_proc(pid)


@functools.cache
def current_run() -> str:
    """This process's run label."""
    return run_label(socket.gethostname(), os.getpid(), _started(os.getpid()) or "?")


def run_is_gone(value: str, started: Callable[[int], str | None] = _started) -> bool:
    """True only for a run of this host whose process no longer exists (or is another one)."""
    parsed = parse_run(value)
    if parsed is None:
        return False
    host, pid, start = parsed
    if host != socket.gethostname():
        return False
    now = started(pid)
    return now is None or (now != start and "?" not in (now, start))


def orphan_processes() -> list[int]:
    """Processes started by a run of this host that is gone (found by their environment)."""
    prefix = f"{RUN_ENV}=".encode()
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        for item in environ.split(b"\0"):
            if item.startswith(prefix):
                run = item[len(prefix) :].decode(errors="replace")
                if run != current_run() and run_is_gone(run):
                    found.append(int(entry.name))
    return found


def stop_orphan_processes(rounds: int = 5) -> list[int]:
    """SIGKILL the processes killed runs left running; their pids. A few rounds, since a
    survivor may start a child between one look and the kill."""
    stopped: list[int] = []
    for _ in range(rounds):
        pids = [pid for pid in orphan_processes() if pid not in stopped]
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        stopped += pids
    return stopped


def remove_orphans(client: docker.DockerClient) -> dict[str, int]:
    """Remove containers and images of killed runs; how many objects per run removed."""
    runs: set[str] = set()
    for listing in (
        client.containers.list(all=True, filters={"label": RUN}),
        client.images.list(all=True, filters={"label": RUN}),
    ):
        runs.update(item.labels.get(RUN, "") for item in listing)
    removed = {}
    for run in sorted(runs):
        if run_is_gone(run):
            removed[run] = _remove_run(client, run)
    return removed


def _remove_run(client: docker.DockerClient, run: str) -> int:
    from harness.edges.chains import remove_labelled

    return remove_labelled(client, {"label": f"{RUN}={run}"})


WORKDIR_PREFIX = "cache-bisect-run-"
_WORKDIR = re.compile(rf"^{WORKDIR_PREFIX}(\d+)-([0-9?]+)-[a-z0-9_]+$")


def workdir_prefix() -> str:
    """The name a work folder of this run starts with (its pid and start time)."""
    _, pid, start = parse_run(current_run()) or ("", os.getpid(), "?")
    return f"{WORKDIR_PREFIX}{pid}-{start}-"


def remove_orphan_workdirs(root: Path | None = None) -> list[Path]:
    """Remove the work folders (cell contexts, captures) of killed runs; the folders removed.
    Only folders named by this module, of runs on this host that are gone."""
    removed = []
    folder = Path(tempfile.gettempdir()) if root is None else root
    for entry in folder.glob(f"{WORKDIR_PREFIX}*"):
        match = _WORKDIR.match(entry.name)
        if not match or entry.is_symlink() or not entry.is_dir():
            continue
        run = run_label(socket.gethostname(), int(match.group(1)), match.group(2))
        if run != current_run() and run_is_gone(run):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed
