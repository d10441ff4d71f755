"""Venvs under faults: two runs building the same one at once, and a cached one broken since."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from harness.app.releases import Releases, plan_for
from harness.core.config import load_config
from harness.core.model import CellSpec
from harness.edges import venvs
from harness.edges.venvs import Environment, EnvironmentFactory

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The venvs uv was asked to create, by path."""
    created: list[str] = []
    real_run = venvs.run

    def run(argv, **kwargs):  # type: ignore[no-untyped-def]
        if argv[1:2] == ["venv"]:
            created.append(argv[-1])
        return real_run(argv, **kwargs)

    monkeypatch.setattr(venvs, "run", run)
    return created


@pytest.mark.network
def test_two_installs_of_one_plan_at_once_build_it_once(
    releases: Releases, tmp_path: Path, counted: list[str]
) -> None:
    plan = plan_for(CellSpec(compose="1.27.4"), releases, load_config(ROOT / "matrix.toml").compat)
    factory = EnvironmentFactory(tmp_path / "venvs", python=sys.executable)
    results: list[object] = []
    errors: list[BaseException] = []

    def install() -> None:
        try:
            results.append(factory.ensure(plan))
        except BaseException as error:  # a crash in either thread fails the test
            errors.append(error)

    threads = [threading.Thread(target=install) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=900)
    assert errors == []
    assert len(results) == 2 and all(isinstance(r, Environment) for r in results)
    assert counted == [str(factory.path_for(plan))]  # one built it, the other reused it
    assert all(r.compose == "1.27.4" for r in results if isinstance(r, Environment))

    # A venv broken since it was cached is noticed and rebuilt, not used.
    first = results[0]
    assert isinstance(first, Environment)
    first.compose_exe.unlink()
    healed = factory.ensure(plan)
    assert isinstance(healed, Environment) and healed.compose_exe.exists()
    assert len(counted) == 2
