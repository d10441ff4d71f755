"""An explicit docker SDK installs as of the later of the two releases' dates, and keeps the
extras compose asks for."""

from __future__ import annotations

import pytest

from harness.app.releases import plan_for
from harness.app.runner import CellRunner
from harness.core.model import CellSpec
from harness.edges.venvs import Environment

pytestmark = [pytest.mark.engine, pytest.mark.network]


def test_an_sdk_newer_than_the_compose_release_installs_and_builds(runner: CellRunner) -> None:
    """SDK 3.4.0 needs docker-pycreds>=0.3.0, uploaded after compose 1.21.2."""
    result = runner.run(CellSpec(compose="1.21.2", sdk="3.4.0"))
    assert result.verdict == "diverged", result.reason  # seed: files owned by 1000
    assert (result.sdk, result.cutoff_from) == ("3.4.0", "docker 3.4.0")
    assert result.cutoff is not None and result.cutoff.startswith("2018-06-18")
    assert "docker-pycreds==0.3.0" in result.freeze


def test_an_sdk_older_than_the_release_keeps_the_release_date(runner: CellRunner) -> None:
    plan = plan_for(CellSpec(compose="1.21.2", sdk="3.3.0"), runner.releases, runner.compat)
    assert plan.cutoff_from == "docker-compose 1.21.2"
    assert plan.cutoff is not None and plan.cutoff.isoformat().startswith("2018-05-03")


def test_an_explicit_sdk_keeps_the_ssh_extra(runner: CellRunner) -> None:
    spec = CellSpec(compose="1.24.1", sdk="3.7.2")
    installed = runner.environments.ensure(plan_for(spec, runner.releases, runner.compat))
    assert isinstance(installed, Environment), installed
    names = {line.split("==")[0].lower() for line in installed.freeze}
    assert {"docker", "paramiko"} <= names, installed.freeze
