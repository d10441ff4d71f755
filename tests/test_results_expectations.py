"""The committed scenario results agree with what each scenario declares (no engine needed:
this reads results/scenarios/matrix.json, a real run, against fixtures/scenarios.toml)."""

from __future__ import annotations

import json
from pathlib import Path

from harness.core.model import Behaviour, CellResult
from harness.core.scenarios import CellScope
from harness.edges.fixtures import load_scenarios

RESULTS = Path(__file__).resolve().parent.parent / "results" / "scenarios" / "matrix.json"


def test_every_committed_scenario_cell_agrees_with_its_expectation() -> None:
    scenarios = load_scenarios()
    cells = [CellResult.from_json(cell) for cell in json.loads(RESULTS.read_text())["cells"]]
    assert {cell.scenario for cell in cells} >= {
        name for name, s in scenarios.items() if s.base == "busybox"
    }
    disagreeing = []
    for cell in cells:
        expectation = scenarios[cell.scenario].expected(CellScope.of(cell))
        behaviour = Behaviour.of(cell)
        observed = behaviour.to_json() if behaviour else f"skip ({cell.reason})"
        if expectation is None or not expectation.matches(observed):
            disagreeing.append((cell.scenario, cell.compose, cell.cli_build, observed))
    assert disagreeing == []
