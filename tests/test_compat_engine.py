"""The harness's own compat rules on a real engine: a user's matrix file needs none of its own,
SDK 6 installs under an old compose, and a combination a rule calls broken is built, the rule a
note beside what the run showed."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.app.releases import plan_for
from harness.app.runner import CellRunner
from harness.core.config import load_config
from harness.core.model import CellSpec

pytestmark = [pytest.mark.engine, pytest.mark.network]


def test_a_users_matrix_file_without_compat_rules_installs_old_releases(
    runner: CellRunner, tmp_path: Path
) -> None:
    config = tmp_path / "mine.toml"
    config.write_text('[matrix]\ncompose = ["1.24.1", "1.25.0"]\ncli_build = ["default", "1"]\n')
    spec = CellSpec(compose="1.24.1")
    result = runner.run(spec, plan_for(spec, runner.releases, load_config(config).compat))
    assert result.verdict == "diverged", result.reason  # seed: files owned by 1000
    assert "cffi==1.14.1" in result.freeze


def test_sdk_6_under_compose_1_20_keeps_its_own_floors(runner: CellRunner) -> None:
    result = runner.run(CellSpec(compose="1.20.1", sdk="6.1.3"))
    assert result.verdict == "diverged", result.reason
    assert {"docker==6.1.3", "requests==2.26.0", "urllib3==1.26.12"} <= set(result.freeze)


def test_a_combination_a_rule_calls_broken_is_built_and_the_rule_is_only_a_note(
    runner: CellRunner,
) -> None:
    """The verdict and the failure's words come from the run; the rule stands beside them."""
    result = runner.run(CellSpec(compose="1.29.2", sdk="7.0.0"))
    assert result.verdict == "error", result.reason
    # compose's own words; calling an SDK function the SDK lacks is a skip, not a behaviour
    assert result.reason is not None and result.reason.startswith("compose build failed")
    assert "ssl_version" in result.reason and result.failure is None
    assert "install" in result.logs and "ssl_version" in result.logs["compose"]
    (note,) = [note for note in result.notes if note.startswith("known not to work")]
    assert note.startswith(
        "known not to work (a compat rule, not this run): "
        "docker SDK 7 removed ssl_version from kwargs_from_env()"
    )


def test_sdk_6_under_compose_1_21_2_fails_in_the_sdk_s_error_path(runner: CellRunner) -> None:
    """Seen on this engine: compose's legacy network lookup fails inside SDK 6's error path."""
    result = runner.run(CellSpec(compose="1.21.2", sdk="6.1.3"))
    assert result.verdict == "error", result.reason
    assert result.failure is not None and "bytes-like object" in result.failure
    assert any("known not to work" in note for note in result.notes)
