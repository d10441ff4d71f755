"""Today's engines and CLIs, provisioned by version from Debian's archive (the harness's own
provisioning code fetches them into the test cache), each checked by a verdict the engine
gives: on Engine 28.5 with CLI 28.5 + buildx, compose 1.27.4's legacy build misses the CLI's
cache at ADD, and explain proves by replayed builds that uid/gid are why (image inspect from
API 1.45 on no longer reports the config the legacy cache compares), while compose 2.40.3 and
the CLI share it with BuildKit, and as typed (no DOCKER_BUILDKIT) compose 1.27.4 (legacy) and
the CLI (BuildKit) part at step 2; Engine 26.1 shares the BuildKit cache too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.edges.provision import Tools
from tests.test_explain_engine import check_probes

pytestmark = [pytest.mark.engine, pytest.mark.dockerd]

ROOT = Path(__file__).resolve().parent.parent


def repro(tmp_path: Path, *args: str) -> dict:
    out = tmp_path / f"{'-'.join(args)}.json".replace("/", "_")
    done = subprocess.run(
        [sys.executable, "-m", "harness", "repro", *args, "--json", str(out)],
        cwd=ROOT,
        env=os.environ,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text())
    return result


def _daemons(cache: Path) -> list[str]:
    """Running dockerd processes of the test cache's provisioned engines."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            command = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "dockerd" in command and str(cache / "engines") in command:
            found.append(proc.name)
    return found


def test_engine_and_cli_28_5_by_version(private_cache: Path, tmp_path: Path) -> None:
    legacy = repro(
        tmp_path, "--compose", "1.27.4", "--engine", "28.5", "--cli", "28.5", "--explain"
    )
    assert legacy["engine"]["version"].startswith("28.5.")
    assert legacy["engine"]["managed"] is True
    assert legacy["cli"]["version"].startswith("28.5.")
    assert legacy["verdict"] == "diverged"
    assert legacy["diverged_at"]["instruction"].startswith("ADD blah.txt")
    cause = check_probes(legacy)
    assert cause["status"] == "proven", cause
    proven = {(e["path"], e["field"]) for e in cause["minimal"]}
    assert proven == {("blah.txt", "uid"), ("blah.txt", "gid")}
    buildkit = repro(
        tmp_path,
        "--compose",
        "2.40.3",
        "--engine",
        "28.5",
        "--cli",
        "28.5",
        "--builder",
        "buildkit",
    )
    assert buildkit["verdict"] == "shared", buildkit.get("reason")
    assert buildkit["cli"]["config"]  # the CLI's own buildx plugin, found through it
    # As people type them: compose 1.27.4's own build is legacy, the 28.5 CLI's is BuildKit
    typed = repro(
        tmp_path, "--compose", "1.27.4", "--engine", "28.5", "--cli", "28.5", "--builder", "default"
    )
    assert typed["builder"] == "default"
    assert typed["builders_used"] == "compose=legacy,cli=buildkit"
    assert typed["verdict"] == "diverged" and typed["diverged_at"]["step"] == 2
    assert not _daemons(private_cache)  # the last run out stopped the private engine
    cli = Tools(private_cache).cli("28.5")
    assert cli.config and (Path(cli.config) / "cli-plugins" / "docker-buildx").exists()


def test_engine_26_1_by_version(private_cache: Path, tmp_path: Path) -> None:
    result = repro(
        tmp_path,
        "--compose",
        "2.40.3",
        "--engine",
        "26.1",
        "--cli",
        "28.5",
        "--builder",
        "buildkit",
    )
    assert result["engine"]["version"].startswith("26.1.")
    assert result["verdict"] == "shared", result.get("reason")
    assert not _daemons(private_cache)
