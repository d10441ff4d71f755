"""Remedies, proven by builds on the real engine: `repro --remedies` tries each remedy of a
diverged cell as a cell of its own and leads with the cheapest that makes the builds share.

The expected verdicts are what the builds show on the engines we run, with a reference CLI
older than 23 (it writes mode 0100644, docker-py 0644) and the CLI 28.5 fetched by version
(0644, but uid/gid 0 where docker-py keeps the checkout's 1000:1000): a root-owned checkout
alone still misses, the newer CLI alone still misses, both together share; `--chown` changes
nothing. A request-level cause (a missing ``cache_from`` image) is mirrored on docker build
and its compose key removed, each by a cell of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from harness.app.remedies import BuiltCells, find_remedies
from harness.app.runner import CellRunner
from harness.core.labels import RUN, parse_run
from harness.core.model import CellSpec, Verdict
from harness.edges.builders import clis_on_path
from harness.edges.engine import Engine
from harness.present.summary import cell_summary

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.engine, pytest.mark.network]


def _major(version: str) -> int:
    return int(version.split(".")[0])


def test_repro_remedies_are_proven_by_builds(engine: Engine, tmp_path: Path) -> None:
    old = next((cli for cli in clis_on_path() if _major(cli.version) < 23), None)
    if old is None:
        pytest.fail("remedy tests need a docker CLI older than 23 on PATH")

    out = tmp_path / "cell.json"
    process = subprocess.Popen(
        [
            sys.executable, "-m", "harness", "repro", "--compose", "1.27.4", "--remedies",
            "--cli", old.path, "--json", str(out),
        ],
        cwd=ROOT,
        env={**os.environ, "DOCKER_HOST": engine.host},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    stdout, stderr = process.communicate(timeout=1800)
    done = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    assert done.returncode == 0, done.stderr
    cell = json.loads(out.read_text())
    assert cell["verdict"] == "diverged" and cell["diverged_at"]["step"] == 3
    assert old.path not in out.read_text()  # the CLI as typed: a place on this machine
    assert (cell["cli"]["path"], cell["cli"]["version"]) in {
        ("<cli>", old.version),
        ("docker", old.version),
    }
    found = {(r["kind"], r["changes"].get("cli")): r for r in cell["remedies"]}
    verdicts = {key: (r["verdict"], r.get("diverged_at")) for key, r in found.items()}
    new = next(version for kind, version in found if kind == "cli")
    assert new is not None and new.startswith("28.5.")  # fetched by version, not PATH's 28.2
    assert verdicts == {
        ("cli-build", None): ("shares", None),
        ("chown", None): ("misses", 3),  # --chown does not change the cache key
        ("buildkit", None): ("shares", None),
        ("root-owned", None): ("misses", 3),  # the old CLI's mode 0100644 still differs
        ("cli", new): ("misses", 3),  # the checkout's uid/gid still differ
        ("root-owned+cli", new): ("shares", None),
        ("release", None): ("shares", None),  # the newest 1.x builds with the CLI by default
    }
    assert found[("cli", new)]["remedy"] == f"run docker build with docker CLI {new}"
    assert found[("release", None)]["remedy"] == "use docker-compose 1.29.2"
    for remedy in cell["remedies"]:
        assert (remedy["builds"], remedy["stored"]) == (2, False) and remedy["seconds"] > 0
    lines = done.stdout.splitlines()
    verdict = next(i for i, line in enumerate(lines) if line.startswith("verdict:"))
    assert lines[verdict + 1] == (
        "What to do: set COMPOSE_DOCKER_CLI_BUILD=1 for docker-compose build (proven: the two "
        "builds then share the cache)."
    )
    assert "remedy: ❌ still misses at step 3: add --chown=0:0" in done.stdout
    left = [  # every trial cleaned up after itself (other runs may share the engine)
        image.id
        for image in engine.client.images.list(all=True, filters={"label": RUN})
        if (parse_run(image.labels.get(RUN, "")) or ("", 0, ""))[1] == process.pid
    ]
    assert left == []


def test_matrix_remedies_reuse_stored_cells_and_are_stored(engine: Engine, tmp_path: Path) -> None:
    """In a matrix the same release with COMPOSE_DOCKER_CLI_BUILD=1 and a newer release that
    shares are cells of the run: those remedies cost no build; the rest are built once and the
    remedied cell is stored, so a rerun tries nothing."""
    config = tmp_path / "small.toml"
    config.write_text(
        '[matrix]\ncompose = ["1.27.4", "1.29.2"]\ncli_build = ["default", "1"]\n'
        "[run]\nremedies = true\n"
    )
    results = tmp_path / "results"
    command = [
        sys.executable, "-m", "harness", "matrix", "--config", str(config),
        "--results", str(results), "--jobs", "2",
    ]  # fmt: skip
    env = {**os.environ, "DOCKER_HOST": engine.host}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr
    document = json.loads((results / "matrix.json").read_text())
    cells = {(c["compose"], c["cli_build"]): c for c in document["cells"]}
    diverged = [key for key, c in cells.items() if c["verdict"] == "diverged"]
    assert diverged == [("1.27.4", "default")]  # the SDK build; the CLI builds share
    remedies = {r["kind"]: r for r in cells[("1.27.4", "default")]["remedies"]}
    for kind in ("cli-build", "release"):  # the matrix's own cells
        assert remedies[kind]["verdict"] == "shares", remedies[kind]
        assert (remedies[kind]["stored"], remedies[kind]["builds"]) == (True, 0)
    assert remedies["release"]["remedy"] == "use docker-compose 1.29.2"
    assert remedies["chown"]["verdict"] == "misses" and remedies["chown"]["builds"] == 2
    assert all(c.get("remedies") is None for key, c in cells.items() if key not in diverged)
    assert [a["remedy"] for a in document["what_to_do"]] == [
        "set COMPOSE_DOCKER_CLI_BUILD=1 for docker-compose build"
    ]
    markdown = (results / "matrix.md").read_text()
    assert markdown.index("What to do") < markdown.index("| 1.27.4")
    assert "remedies [1/1] 1.27.4:" in done.stdout

    again = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "remedies [" not in again.stdout and again.stdout.count("(stored)") == 4
    rerun = json.loads((results / "matrix.json").read_text())
    assert [c.get("remedies") for c in rerun["cells"]] == [
        c.get("remedies") for c in document["cells"]
    ]


def test_a_request_level_cause_is_mirrored_on_docker_build_and_dropped_from_compose(
    runner: CellRunner,
) -> None:
    """compose 1.29.2 (its CLI build) sends --cache-from naming a missing image; built second
    it reuses none of the CLI's steps, and explain proves query:cachefrom. Giving docker build
    the same --cache-from still misses (the engine then trusts only the named, missing image
    on both sides); removing build.cache_from from the compose service shares."""
    spec = CellSpec("1.29.2", scenario="cache-from", order="cli-first", explain=True)
    cell = runner.run(spec)
    assert cell.verdict is Verdict.DIVERGED and cell.diverged_at is not None
    assert cell.explain_cause is not None and cell.explain_cause.status == "proven"
    found = find_remedies(spec, cell, BuiltCells(runner), releases=(), clis=(), log=print)
    by_kind = {remedy.kind: remedy for remedy in found}
    flag, key = by_kind["cli-flag"], by_kind["compose-key"]
    assert flag.remedy == (
        "run docker build with --cache-from cache-bisect/never-built:missing "
        "(docker-compose's build.cache_from)"
    )
    assert (flag.verdict, flag.diverged_at, flag.builds) == ("misses", 2, 2)
    assert key.remedy == "remove build.cache_from from the compose service"
    assert (key.verdict, key.builds) == ("shares", 2)
    summary = cell_summary(replace(cell, remedies=found))
    assert (
        "What to do: remove build.cache_from from the compose service (proven: the two builds "
        "then share the cache)." in summary
    )
    assert [kind for kind in by_kind if kind in ("cli-flag", "compose-key")] == [
        "cli-flag",
        "compose-key",
    ]  # the flag, which keeps the user's compose file, is listed (and chosen) first
