"""The committed results agree with what each scenario declares (no engine needed: this
reads real runs, results/**/matrix.json, against fixtures/scenarios.toml)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.core.config import load_config
from harness.core.model import Behaviour, CellResult
from harness.core.scenarios import CellScope
from harness.edges.fixtures import load_scenarios

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"
OFFLINE = {name for name, s in load_scenarios().items() if s.base == "busybox"}


def cells_of(folder: str) -> list[CellResult]:
    document = json.loads((RESULTS / folder / "matrix.json").read_text())
    return [CellResult.from_json(cell) for cell in document["cells"]]


def disagreeing(cells: list[CellResult]) -> list[tuple[str, str, str, str, str]]:
    scenarios = load_scenarios()
    found = []
    for cell in cells:
        scope = CellScope.of(cell)
        expectation = scenarios[cell.scenario].expected(scope)
        behaviour = Behaviour.of(cell)
        observed = behaviour.to_json() if behaviour else f"skip ({cell.reason})"
        if expectation is None or not expectation.matches(observed):
            found.append((cell.scenario, cell.compose, cell.cli_build, scope.builder, observed))
    return found


@pytest.mark.parametrize("folder", [".", "scenarios", "scenarios-v2"])
def test_every_committed_cell_agrees_with_its_scenarios_expectation(folder: str) -> None:
    assert disagreeing(cells_of(folder)) == []


def test_the_scenario_results_cover_every_scenario_their_matrix_names() -> None:
    """compose 1.x across the releases, and compose 2.x with each engine's own CLI."""
    assert {cell.scenario for cell in cells_of("scenarios")} >= OFFLINE
    named = load_config(ROOT / "matrix-scenarios-v2.toml").scenario
    v2 = cells_of("scenarios-v2")
    for compose in ("2.18.1", "2.40.3"):
        for cli in ("20.10", "28.5"):
            legacy = {
                c.scenario
                for c in v2
                if c.compose == compose and c.cli.version.startswith(cli) and c.builders.legacy
            }
            assert legacy >= set(named), (compose, cli, set(named) - legacy)
