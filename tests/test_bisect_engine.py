"""Bisection on the real engine over a small real range of docker-compose releases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.edges.engine import Engine

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.engine


def bisect(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", "bisect", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=1200,
    )


def test_bisect_finds_the_release_that_shares_the_cache_and_remedies_its_ends(
    engine: Engine, tmp_path: Path
) -> None:
    """With --remedies, the diverged end (1.27.4's SDK build) tries its remedies: the same
    release with COMPOSE_DOCKER_CLI_BUILD=1 and the nearest release that shares (1.28.0, a
    probe of this bisect: from the store) lead; the rest are built once and stored with it."""
    env = {"DOCKER_HOST": engine.host}
    results = tmp_path / "results"
    args = (
        "1.27.4", "1.28.0", "--remedies", "--results", str(results),
        "--json", str(tmp_path / "b.json"),
    )  # fmt: skip
    done = bisect(*args, env=env)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "b.json").read_text())
    assert report["status"] == "found"
    assert (report["last_old"], report["first_new"]) == ("1.27.4", "1.28.0")
    assert (report["old_verdict"], report["new_verdict"]) == ("diverged@3", "shared")
    assert [p["version"] for p in report["probes"]] == ["1.27.4", "1.28.0"]
    assert all(p["cell"]["engine"]["version"] == engine.info.version for p in report["probes"])
    assert report["compare_url"].endswith("/docker/compose/compare/1.27.4...1.28.0")
    # the two releases resolved different SDKs: the cross cells decide who changed it
    crosses = report["culprit"]["crosses"]
    assert {(c["compose"], c["sdk"]) for c in crosses} == {
        ("1.27.4", report["probes"][1]["sdk"]),
        ("1.28.0", report["probes"][0]["sdk"]),
    }
    assert report["culprit"]["package"] in ("docker-compose", "docker")
    markdown = (results / "bisect.md").read_text()
    assert "1.28.0 is the first release that does not" in markdown

    old, new = report["probes"][0]["cell"], report["probes"][1]["cell"]
    assert new.get("remedies") is None  # an end that shares needs none
    remedies = {r["kind"]: r for r in old["remedies"]}
    assert remedies["cli-build"]["verdict"] == "shares" and remedies["cli-build"]["builds"] == 2
    release = remedies["release"]
    assert (release["remedy"], release["verdict"], release["stored"]) == (
        "use docker-compose 1.28.0", "shares", True,
    )  # fmt: skip
    assert remedies["chown"]["verdict"] == "misses"  # --chown does not change the cache key
    built = [r for r in old["remedies"] if r["verdict"] != "not-tried" and not r["stored"]]
    assert built and all(r["builds"] == 2 and r["seconds"] > 0 for r in built)
    advice = "What to do: set COMPOSE_DOCKER_CLI_BUILD=1 for docker-compose build"
    assert f"**{advice} (proven: the two builds then share the cache).** (compose 1.27.4)" in (
        markdown
    )
    assert "remedy: trying" in done.stdout

    again = bisect(*args, env=env)
    assert again.returncode == 0
    assert "2 probes, 0 new builds" in again.stdout
    assert "remedy: trying" not in again.stdout  # the remedied end was stored with them
    rerun = json.loads((tmp_path / "b.json").read_text())
    assert rerun["probes"][0]["cell"]["remedies"] == old["remedies"]
