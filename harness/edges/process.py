"""Running a child process with a deadline and keeping everything it printed.

Children run in their own process group, so Ctrl-C reaches only the harness. In the main
thread the interruption arrives inside ``run``, which stops its child; cells running in other
threads are stopped through ``stop_children``: every running child is killed, ``run`` raises
KeyboardInterrupt in its thread, and no new child starts until ``allow_children``.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.edges.runs import RUN_ENV, current_run

# "error: ...", uv's cause/hint, and exception lines, qualified ones too ("re.error: ...").
_ERROR_LINE = re.compile(r"^(error|cause|hint|×|(\w+\.)*\w*(Error|Exception)\b)", re.IGNORECASE)
# Python's chained tracebacks: what follows the last of these is the exception that ended it.
_CHAINED = (
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
)
_children: set[int] = set()  # process groups of the children running now
_guard = threading.Lock()
_stopping = threading.Event()


def stop_children() -> None:
    """Kill every running child and refuse new ones: their ``run`` raises KeyboardInterrupt."""
    with _guard:
        _stopping.set()
        for pid in _children:
            _kill_group(pid)


def stop_on_signals() -> None:
    """SIGTERM stops the run as Ctrl-C does (nox, interrupted itself, sends it), and a second
    SIGINT or SIGTERM while the run cleans up is ignored, so the cleanup finishes: builds
    stopped, the cell's images and folder removed, finished cells kept."""

    def interrupt_once(signum: int, frame: object) -> None:
        for each in (signal.SIGINT, signal.SIGTERM):
            signal.signal(each, signal.SIG_IGN)
        raise KeyboardInterrupt

    for each in (signal.SIGINT, signal.SIGTERM):
        signal.signal(each, interrupt_once)


def allow_children() -> None:
    _stopping.clear()


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int | None
    output: str
    seconds: float
    timed_out: bool
    # at the timeout, a process of the child's group was blocked opening a fifo (waiting for
    # a writer that never comes): a hang of the program, not a slow machine
    stuck_on_fifo: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def error_lines(self, count: int = 6) -> str:
        """The error, cause and exception lines (else the last line), in order, so a reason
        starts with what failed rather than a traceback frame or a generic hint. Of a chained
        traceback only the last exception counts: the earlier ones were handled on the way."""
        lines = [line.strip() for line in self.output.strip().splitlines() if line.strip()]
        chained = [index for index, line in enumerate(lines) if line in _CHAINED]
        if chained:
            lines = lines[chained[-1] + 1 :]
        telling = [line for line in lines if _ERROR_LINE.match(line)]
        return "\n".join(telling[-count:] if telling else lines[-1:])


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path | None = None,
    timeout: float,
) -> Completed:
    """Run ``argv`` in its own process group; on timeout kill the whole group.

    The child and its children carry this run in their environment, so that if this process
    is killed, the next run can find and stop them.
    """
    started = time.monotonic()
    with _guard:
        if _stopping.is_set():
            raise KeyboardInterrupt
        process = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env={**env, RUN_ENV: current_run()},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        _children.add(process.pid)
    timed_out = stuck_on_fifo = False
    try:
        raw, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        stuck_on_fifo = _waits_for_fifo_writer(process.pid)
        _kill_group(process.pid)
        raw, _ = process.communicate()
    except BaseException:  # Ctrl-C: the child is in its own session, so stop it ourselves
        _kill_group(process.pid)
        process.wait()
        raise
    finally:
        with _guard:
            _children.discard(process.pid)
    if _stopping.is_set():  # stopped by stop_children: what it printed is not an answer
        raise KeyboardInterrupt
    return Completed(
        argv=tuple(argv),
        returncode=None if timed_out else process.returncode,
        output=raw.decode("utf-8", errors="replace"),
        seconds=time.monotonic() - started,
        timed_out=timed_out,
        stuck_on_fifo=stuck_on_fifo,
    )


# The kernel function a process sleeps in while open() of a fifo waits for its other end.
_FIFO_OPEN_WAIT = "wait_for_partner"


def _waits_for_fifo_writer(group: int) -> bool:
    """Whether a process of the process group ``group`` sleeps in open() of a fifo (Linux:
    /proc/PID/wchan; elsewhere, or without /proc, False)."""
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if os.getpgid(int(entry.name)) != group:
                continue
            if (entry / "wchan").read_text().strip() == _FIFO_OPEN_WAIT:
                return True
        except (OSError, ValueError):  # gone meanwhile, or not ours to read
            continue
    return False


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
