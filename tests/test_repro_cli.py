"""The repro command as users run it: a real process, real index, real engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.edges.engine import Engine

ROOT = Path(__file__).resolve().parent.parent


def repro(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "harness", "repro", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.engine
def test_repro_writes_the_full_result(engine: Engine, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    done = repro("--compose", "1.20.0", "--json", str(out), env={"DOCKER_HOST": engine.host})
    assert done.returncode == 0, done.stderr
    assert "verdict: diverged at step 3: ADD blah.txt /usr/src/blah.txt" in done.stdout
    result = json.loads(out.read_text())
    required = {
        "schema",
        "compose",
        "sdk",
        "python",
        "engine",
        "cli",
        "scenario",
        "cli_build",
        "order",
        "verdict",
        "diverged_at",
        "steps",
        "freeze",
        "overrides",
        "logs",
    }
    assert required <= set(result)
    assert result["diverged_at"]["step"] == 3
    assert result["cli_build"] == "default"
    assert set(result["logs"]) >= {"install", "compose", "cli"}


@pytest.mark.network
def test_unknown_release_is_one_line_with_the_nearest(tmp_path: Path) -> None:
    done = repro("--compose", "1.20.9")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "1.20.9" in lines[0] and "1.20.1" in lines[0] and "1.21.0" in lines[0]


def test_malformed_options_are_rejected() -> None:
    done = repro("--compose", "1.20.0", "--cli-build", "yes")
    assert done.returncode == 2
    assert "invalid choice: 'yes'" in done.stderr
    done = repro("--compose", "1.20.0", "--scenario", "nope")
    assert done.returncode == 2
    assert "unknown scenario 'nope' (known:" in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_config_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "matrix.toml"
    config.write_text('[matrix]\ncompose = ["1.20.0"]\ncli_build = ["sometimes"]\n')
    done = repro("--compose", "1.20.0", "--config", str(config))
    assert done.returncode == 2
    assert f"{config}:3: [matrix] cli_build: 'sometimes' is not one of" in done.stderr


@pytest.mark.network  # the release list comes first: checked before the engine
def test_no_engine_is_one_clear_line(tmp_path: Path) -> None:
    nowhere = f"unix://{tmp_path}/none.sock"
    done = repro(
        "--compose", "1.20.0", env={"DOCKER_HOST": nowhere, "CACHE_BISECT_ENGINE": "external"}
    )
    assert done.returncode == 1  # the input was fine: the engine is what failed
    assert done.stderr.strip() == (
        f"error: no Docker engine answers at DOCKER_HOST={nowhere}: start it, or unset "
        "DOCKER_HOST to use the default socket or a private engine"
    )


def test_help_lists_every_option() -> None:
    done = repro("--help")
    assert done.returncode == 0
    for option in ("--compose", "--sdk", "--cli-build", "--scenario", "--json", "--order"):
        assert option in done.stdout


@pytest.mark.network
def test_buildkit_with_a_cli_without_buildx_is_one_line_before_any_work(tmp_path: Path) -> None:
    """A CLI from Docker 23 on builds with BuildKit only through its buildx plugin: repro
    says so, with the way out, before it installs compose or asks an engine (none answers
    at this DOCKER_HOST), instead of failing the cell after the install."""
    cli = tmp_path / "docker"
    cli.write_text(
        '#!/bin/sh\nif [ "$1" = "--version" ]; then echo "Docker version 28.2.2, build x"; '
        "exit 0; fi\nexit 1\n"
    )
    cli.chmod(0o755)
    done = repro(
        "--compose", "2.40.3", "--builder", "buildkit", "--cli", str(cli),
        env={"DOCKER_HOST": "unix:///nonexistent", "CACHE_BISECT_HOME": str(tmp_path / "home")},
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines == [
        "error: BuildKit needs a CLI with BuildKit: this CLI has no buildx plugin (Docker 23+): "
        "pass --cli with a CLI that has it (--cli 20.10, or --cli 28.5: fetched with its buildx "
        "plugin), or install the buildx plugin"
    ]
    assert "installing" not in done.stdout and not (tmp_path / "home" / "venvs").exists()
