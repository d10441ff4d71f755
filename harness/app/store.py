"""The result store: one JSON file per finished cell, keyed by every input that can change
its answer, written atomically the moment the cell ends.

A rerun finds finished cells by key and builds nothing; an interrupted run loses no finished
cell; changing the engine, CLI, Python, rules, an option or the build context as it is sent
(every file's owner, mode, type, link target and content) changes the key.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness import __version__
from harness.app.releases import Plans
from harness.app.runner import CellRunner, scenario_for
from harness.core.compat import InstallPlan
from harness.core.model import (
    SCHEMA,
    CellResult,
    CellSpec,
    CliInfo,
    EngineInfo,
    ResultFormatError,
    Verdict,
)
from harness.edges.context import owner_for
from harness.edges.contextdigest import context_digest
from harness.edges.files import write_atomically
from harness.edges.paths import redact, redact_cell

# Answers about the builders are kept, and so are outcomes that repeat: a release that cannot
# be installed, a build that fails the same way every time (``failure``). Any other error and a
# timeout may pass on a retry: those cells are built again on the next run.
ANSWERED = (Verdict.SHARED, Verdict.DIVERGED, Verdict.UNINSTALLABLE)


def storable(cell: CellResult) -> bool:
    return cell.verdict in ANSWERED or (cell.verdict is Verdict.ERROR and cell.failure is not None)


def key_inputs(
    spec: CellSpec, plan: InstallPlan, engine: EngineInfo, cli: CliInfo, fixture: str, run: int = 0
) -> dict[str, Any]:
    """Everything that can change a cell's answer (the managed flag and paths cannot).

    ``run`` > 0 names a repeated run of the same cell (bisect --repeat); run 0 is the cell.
    """
    repeat = {"run": run} if run else {}
    inputs = {**asdict(spec), "builder": str(spec.builder)}
    if spec.builder.legacy:  # keys of cells from before the builder axis stay valid
        del inputs["builder"]
    del inputs["engine"], inputs["cli"]  # as asked; the engine's facts and CLI version decide
    for name in ("chown", "cli_flags", "drop_keys"):  # only a remedy's trial sets these:
        if not inputs[name]:  # other keys stay as they were
            del inputs[name]
    return {
        **repeat,
        "schema": SCHEMA,
        "harness": __version__,
        "spec": inputs,
        "plan": plan.as_json(),
        "engine": {
            "version": engine.version,
            "api_version": engine.api_version,
            "storage_driver": engine.storage_driver,
        },
        "cli": cli.version,
        "fixture": fixture,
    }


def cell_key(inputs: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:24]


class ResultStore:
    """Cells under ``root`` as ``<key>.json``; a file that cannot be read back is reported
    (``warn``) and treated as absent, so the cell is built again and the file replaced."""

    def __init__(self, root: Path, warn: Callable[[str], None] | None = None) -> None:
        self.root = root
        self.warn = warn
        self._warned: set[Path] = set()  # a rerun looks a cell up twice: say it once

    def _path(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def get(self, key: str) -> CellResult | None:
        path = self._path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            return self._unusable(path, error.strerror or str(error))
        try:
            cell = CellResult.from_json(json.loads(data.decode("utf-8")))
        except (ValueError, ResultFormatError) as error:
            return self._unusable(path, str(error).splitlines()[0])
        if cell.store_key != key:
            return self._unusable(path, "it belongs to another key")
        if not storable(cell):
            return self._unusable(path, f"a {cell.verdict} is never stored")
        return redact_cell(cell)  # a cell stored by an older harness may name a machine path

    def _unusable(self, path: Path, why: str) -> CellResult | None:
        if self.warn and path not in self._warned:
            self._warned.add(path)
            self.warn(f"warning: ignoring stored cell {path} ({why}); building it again")
        return None  # absent: the caller builds the cell again

    def put(self, key: str, cell: CellResult) -> CellResult:
        stored = cell.with_store_key(key)
        write_atomically(self._path(key), redact(json.dumps(stored.to_json(), indent=1)))
        return stored


class CellKeys:
    """The store key of a cell on an engine: needs the release lists, the rules and the CLI,
    not a running engine (so a rerun can find every stored cell before starting one)."""

    def __init__(self, plans: Plans, cli: Callable[[CellSpec], CliInfo]) -> None:
        self.plans = plans
        self.cli = cli  # the reference CLI of a cell
        self._contexts: dict[tuple[object, ...], str] = {}
        self._reading = threading.Lock()  # cells run in parallel threads

    def plan(self, spec: CellSpec) -> InstallPlan:
        return self.plans.of(spec)

    def key(self, spec: CellSpec, engine: EngineInfo, run: int = 0) -> str:
        which = (spec.scenario, spec.project, spec.service, spec.uid, spec.gid)
        with self._reading:
            if which not in self._contexts:  # a project is read once per run, not once per cell
                scenario = scenario_for(spec)
                owner = owner_for(scenario, spec.uid, spec.gid)
                self._contexts[which] = context_digest(scenario, owner)
            context = self._contexts[which]
        return cell_key(key_inputs(spec, self.plan(spec), engine, self.cli(spec), context, run))


class StoredCells:
    """Cells through the store: a stored answer is returned as is, a new one is stored at once."""

    def __init__(self, runner: CellRunner, store: ResultStore, *, force: bool = False) -> None:
        self.runner = runner
        self.store = store
        self.force = force
        self.keys = CellKeys(runner.shared_plans, runner.cli_for)

    def lookup(self, spec: CellSpec, run: int = 0) -> CellResult | None:
        """The stored answer of this cell on this runner's engine (never with ``force``)."""
        if self.force:
            return None
        return self.store.get(self.keys.key(spec, self.runner.engine.info, run))

    def get(self, spec: CellSpec, run: int = 0) -> tuple[CellResult, bool]:
        """The cell's result and whether it came from the store."""
        stored = self.lookup(spec, run)
        if stored is not None:
            return stored, True
        return self.build(spec, run), False

    def build(self, spec: CellSpec, run: int = 0) -> CellResult:
        """Run the cell on this runner's engine and store its answer."""
        key = self.keys.key(spec, self.runner.engine.info, run)
        result = self.runner.run(spec, self.keys.plan(spec))
        if storable(result):
            result = self.store.put(key, result)
        return result
