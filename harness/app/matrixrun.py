"""Running the cells of a matrix, several at once, each stored the moment it finishes.

The work of a cell is child processes (uv, docker-compose, the CLI) and engine calls, so
threads are enough to keep N of them busy. Cells are independent by construction (per-cell
base images and labels); a venv two cells need is installed once (see edges.venvs).
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from functools import partial

from harness.app.runner import CellRunner, ReferenceClis
from harness.app.store import CellKeys, ResultStore, StoredCells
from harness.core.flavour import cannot_run
from harness.core.matrix import cell_id
from harness.core.model import CellResult, CellSpec, EngineInfo
from harness.edges.process import allow_children, stop_children
from harness.present.console import say
from harness.present.words import mark


class Progress:
    """One line per finished cell, in the order they finish, with an ETA; thread-safe."""

    def __init__(self, total: int, jobs: int, report: Callable[[str], None]) -> None:
        self.total = total
        self.jobs = jobs
        self.report = report
        self.started = time.monotonic()
        self.finished = 0
        self.built_seconds: list[float] = []
        self._lock = threading.Lock()

    def done(self, spec: CellSpec, result: CellResult, seconds: float | None) -> None:
        """``seconds`` is how long the cell took to build; None: it came from the store."""
        with self._lock:
            self.finished += 1
            if seconds is not None:
                self.built_seconds.append(seconds)
            how = "stored" if seconds is None else f"{seconds:.1f}s"
            self.report(self._line(spec, result, how))

    def _line(self, spec: CellSpec, result: CellResult, how: str) -> str:
        elapsed = time.monotonic() - self.started
        remaining = self.total - self.finished
        built = self.built_seconds
        per_cell = sum(built) / len(built) if built else 0.0
        eta = per_cell * remaining / max(1, min(self.jobs, remaining))
        width = len(str(self.total))
        return (
            f"[{self.finished:>{width}}/{self.total}] {cell_id(spec):<24} {mark(result):<18} "
            f"({how}) elapsed {_clock(elapsed)}, ETA {_clock(eta)}"
        )


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}:{seconds:02d}"


def plan_out(
    cells: Sequence[CellSpec], clis: ReferenceClis
) -> tuple[list[CellSpec], dict[str, list[CellSpec]]]:
    """The cells that can run, and the rest by the reason they cannot (known before any
    build: see core.flavour.cannot_run), so the run has nothing to fail for them."""
    runnable: list[CellSpec] = []
    out: dict[str, list[CellSpec]] = {}
    for spec in cells:
        reason = cannot_run(spec, partial(clis.buildkit, spec))
        if reason is None:
            runnable.append(spec)
        else:
            out.setdefault(reason, []).append(spec)
    return runnable, out


def stored_only(
    cells: Sequence[CellSpec],
    keys: CellKeys,
    engines: Mapping[str, Sequence[EngineInfo]],
    store: ResultStore,
    progress: Callable[[str], None] = say,
) -> list[CellResult] | None:
    """Every cell from the store (stored on any engine serving it: ``engines`` by the cell's
    ``engine``), or None if one is missing: then nothing was reported, and engines must start."""
    found = []
    for spec in cells:
        serving = engines.get(spec.engine, ())
        hit = next(
            (cell for info in serving if (cell := store.get(keys.key(spec, info))) is not None),
            None,
        )
        if hit is None:
            return None
        found.append(hit)
    tracker = Progress(len(cells), 1, progress)
    for spec, cell in zip(cells, found, strict=True):
        tracker.done(spec, cell, None)
    return found


def run_matrix(
    cells: Sequence[CellSpec],
    runner: CellRunner | Sequence[CellRunner],
    store: ResultStore,
    *,
    force: bool = False,
    progress: Callable[[str], None] = say,
    jobs: int = 1,
) -> list[CellResult]:
    """Run or reuse each cell, ``jobs`` at once; results in the order of ``cells``.

    A cell runs on the runners that serve its ``engine`` (a provisioned engine's version, or
    "" for the run's engines): ``jobs`` cells at once, on whichever engines they name, so
    engines of different versions run their cells side by side. With several runners for one version
    (engines named by host), each cell runs wholly on one of them, the slots dealt
    round-robin; a cell stored by any of them is reused. With several jobs a cell's own
    chatter (installing, building) is left out: only the one line per finished cell stays
    readable when cells interleave. An interruption stops the running cells as it stops a
    sequential one (finished cells are stored, the rest not).
    """
    runners = [runner] if isinstance(runner, CellRunner) else list(runner)
    jobs = max(jobs, len(runners))
    if jobs > 1:
        runners = [dataclasses.replace(each, log=lambda line: None) for each in runners]
    groups: dict[str, list[StoredCells]] = {}
    for each in runners:
        groups.setdefault(each.serves, []).append(StoredCells(each, store, force=force))
    missing = sorted({spec.engine for spec in cells} - set(groups))
    if missing:
        raise ValueError(f"no runner serves engine {missing[0]!r}")
    slots: dict[str, queue.Queue[StoredCells]] = {}
    for version, engines in groups.items():  # ``jobs`` workers in all, on any engine
        slots[version] = queue.Queue()
        for slot in range(jobs):
            slots[version].put(engines[slot % len(engines)])
    tracker = Progress(len(cells), jobs, progress)

    def one(spec: CellSpec) -> CellResult:
        for engine in groups[spec.engine]:
            stored = engine.lookup(spec)
            if stored is not None:
                tracker.done(spec, stored, None)
                return stored
        engine = slots[spec.engine].get()
        try:
            started = time.monotonic()
            result = engine.build(spec)
        finally:
            slots[spec.engine].put(engine)
        tracker.done(spec, result, time.monotonic() - started)
        return result

    if jobs <= 1:
        return [one(spec) for spec in cells]
    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="cell")
    try:
        futures = [pool.submit(one, spec) for spec in cells]
        finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for future in finished:
            future.result()  # the first failure (or interruption) of a cell, raised here
        return [future.result() for future in futures]
    except KeyboardInterrupt:
        stop_children()  # the running cells stop their builds, clean up and are not stored
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        allow_children()
