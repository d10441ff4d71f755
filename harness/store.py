"""The result store: one JSON file per finished cell, keyed by every input that can change
its answer, written atomically the moment the cell ends.

A rerun finds finished cells by key and builds nothing; an interrupted run loses no finished
cell; changing the engine, CLI, Python, rules, fixture or an option changes the key.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness import __version__
from harness.builders import Cli
from harness.cell import SCHEMA, CellSpec
from harness.compat import InstallPlan
from harness.engine import EngineInfo
from harness.runner import CellRunner, plan_for
from harness.scenarios import fixture_digest

# Only answers about the builders are kept; an error or timeout is retried on the next run.
STORED_VERDICTS = ("shared", "diverged", "uninstallable")


def key_inputs(
    spec: CellSpec, plan: InstallPlan, engine: EngineInfo, cli: Cli, fixture: str, run: int = 0
) -> dict[str, Any]:
    """Everything that can change a cell's answer (the managed flag and paths cannot).

    ``run`` > 0 names a repeated run of the same cell (bisect --repeat); run 0 is the cell.
    """
    repeat = {"run": run} if run else {}
    return {
        **repeat,
        "schema": SCHEMA,
        "harness": __version__,
        "spec": asdict(spec),
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
    """Cells under ``root`` as ``<key>.json``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            cell = json.loads(self._path(key).read_text())
        except (OSError, ValueError):
            return None
        return cell if isinstance(cell, dict) and cell.get("store_key") == key else None

    def put(self, key: str, cell: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        cell = {**cell, "store_key": key}
        handle, temporary = tempfile.mkstemp(dir=self.root, prefix=".cell-", suffix=".tmp")
        try:
            with os.fdopen(handle, "w") as stream:
                json.dump(cell, stream, indent=1)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, self._path(key))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise


class StoredCells:
    """Cells through the store: a stored answer is returned as is, a new one is stored at once."""

    def __init__(self, runner: CellRunner, store: ResultStore, *, force: bool = False) -> None:
        self.runner = runner
        self.store = store
        self.force = force
        self._fixtures: dict[tuple[str, str | None, str | None], str] = {}

    def get(self, spec: CellSpec, run: int = 0) -> tuple[dict[str, Any], bool]:
        """The cell's result and whether it came from the store."""
        runner = self.runner
        plan = plan_for(spec, runner.releases, runner.compat)
        which = (spec.scenario, spec.project, spec.service)
        if which not in self._fixtures:  # a project is read once per run, not once per cell
            self._fixtures[which] = fixture_digest(runner.scenario(spec))
        fixture = self._fixtures[which]
        key = cell_key(key_inputs(spec, plan, runner.engine.info, runner.cli, fixture, run))
        stored = None if self.force else self.store.get(key)
        if stored is not None:
            return stored, True
        result = runner.run(spec, plan)
        if result["verdict"] in STORED_VERDICTS:
            self.store.put(key, result)
        return result, False
