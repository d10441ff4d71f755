"""Labels that mark what the harness created, so it deletes only that.

Each object also names the run that made it (host, pid and the process's start time), so a
later run can tell the leftovers of a killed run (process gone) from a live run's objects.
"""

from __future__ import annotations

from harness import __version__

HARNESS = "io.github.cache-bisect.harness"
CELL = "io.github.cache-bisect.cell"
RUN = "io.github.cache-bisect.run"


def cell_labels(cell_id: str, run: str) -> dict[str, str]:
    return {HARNESS: __version__, CELL: cell_id, RUN: run}


def cell_filter(cell_id: str) -> dict[str, str]:
    return {"label": f"{CELL}={cell_id}"}


def run_label(host: str, pid: int, started: str) -> str:
    """``host:pid:start``: a pid alone may be reused by a later, unrelated process."""
    return f"{host}:{pid}:{started}"


def parse_run(value: str) -> tuple[str, int, str] | None:
    """(host, pid, start) of a run label, or None if it is not one."""
    host, _, rest = value.rpartition(":")
    host, _, pid = host.rpartition(":")
    if not host or not pid.isdigit() or not rest:
        return None
    return host, int(pid), rest
