"""A cell's install plan is made once per run: the check before the engine, its store key on
every engine and its build all ask the one ``Plans`` a run shares."""

from __future__ import annotations

from typing import Any

import pytest

from harness.app import releases as releases_module
from harness.app.releases import Plans
from harness.app.store import CellKeys
from harness.core.model import CellSpec, CliInfo


def test_each_cells_plan_is_made_once_whichever_engine_asks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[CellSpec] = []

    def plan_for(spec: CellSpec, releases: Any, compat: Any) -> str:
        made.append(spec)
        return f"plan of {spec.compose}"

    monkeypatch.setattr(releases_module, "plan_for", plan_for)
    plans = Plans(releases=None, compat=None)  # type: ignore[arg-type]  # plan_for is a spy
    old, new = CellSpec(compose="1.27.4"), CellSpec(compose="1.29.2")
    engines = [CellKeys(plans, lambda spec: CliInfo("docker", "28.5.2")) for _ in range(3)]
    for spec in (old, new, old):
        assert plans.of(spec) == f"plan of {spec.compose}"  # the check before the engine
        for keys in engines:
            assert keys.plan(spec) == f"plan of {spec.compose}"
    assert made == [old, new]
