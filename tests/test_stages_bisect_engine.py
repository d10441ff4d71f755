"""Bisect and remedies on multi-stage cells, on the real engine (issue #26, item 5).

The multistage scenario (a builder stage, a test stage FROM it, a final stage copying from
the builder) across docker-compose's switch to the CLI build (1.28.0): 1.27.4's own build
misses at the builder stage's ADD, 1.28.0 hands the build to the CLI and shares. The
reference CLI is 20.10, fetched by version (the same on every machine): its tar headers carry
the file-type bits in the mode, docker-py's do not, and uid/gid differ as well.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.app.runner import CellRunner
from harness.core.model import CellSpec, Verdict
from harness.edges.engine import Engine

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.engine, pytest.mark.network]
ADD = "ADD blah.txt /src/blah.txt"
INTERNAL = ("cache-bisect/base:", "cache-bisect/scratch:")  # names users never wrote


def test_bisect_of_a_multistage_cell_names_the_stage_and_proves_its_remedies(
    engine: Engine, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    command = [
        sys.executable, "-m", "harness", "bisect", "1.27.4", "1.28.0", "--scenario",
        "multistage", "--cli", "20.10", "--remedies", "--results", str(results),
        "--json", str(tmp_path / "b.json"),
    ]  # fmt: skip
    env = {**os.environ, "DOCKER_HOST": engine.host}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "b.json").read_text())
    assert (report["status"], report["last_old"], report["first_new"]) == (
        "found", "1.27.4", "1.28.0",
    )  # fmt: skip
    assert [p["version"] for p in report["probes"]] == ["1.27.4", "1.28.0"]
    old, new = (probe["cell"] for probe in report["probes"])
    assert old["cli"]["version"].startswith("20.10.") and new["verdict"] == "shared"
    # what the engine did: every step of the builder stage before the ADD was reused, the ADD
    # was not; the verdict's step and stage are that step's
    steps = {step["step"]: step for step in old["steps"]}
    assert [steps[n]["shared"] for n in (2, 3, 4)] == [True, True, False]
    assert (steps[4]["instruction"], steps[4]["stage"]) == (ADD, "builder")
    assert old["diverged_at"] == {"step": 4, "instruction": ADD, "stage": "builder"}
    stored = [json.loads(path.read_text()) for path in (results / "cells").rglob("*.json")]
    assert {"step": 4, "instruction": ADD, "stage": "builder"} in [
        cell.get("diverged_at") for cell in stored
    ]  # the probe as the store keeps it
    reused = " — the final image was reused anyway" if old["final_image_reused"] else ""
    where = f"diverged at step 4 (stage builder): {ADD}{reused}"
    assert f"probe 1.27.4 (SDK {report['probes'][0]['sdk']}): {where} [1/1, built]" in done.stdout
    assert f"  docker-compose 1.27.4: {where}" in done.stdout.splitlines()
    cross = next(c for c in report["culprit"]["crosses"] if c["compose"] == "1.27.4")
    assert cross["verdict"] == "diverged@4"  # 1.27.4 with 1.28.0's SDK: the same ADD
    assert f"cross 1.27.4 with SDK {cross['sdk']}: diverged at step 4 (stage builder): {ADD}" in (
        done.stdout
    )
    markdown = (results / "bisect.md").read_text()
    assert (
        f"- docker-compose 1.27.4: diverged at step 4 (stage builder): `{ADD}`{reused}"
        in markdown.splitlines()
    )
    for text in (markdown, done.stdout):
        assert not any(name in text for name in INTERNAL)

    # the remedies of the diverged end, each a cell the engine built (or the stored 1.28.0)
    found = {(r["kind"], r["changes"].get("cli")): r for r in old["remedies"]}
    verdicts = {
        key: (r["verdict"], r.get("diverged_at"), r.get("stage")) for key, r in found.items()
    }
    newer = next(cli for kind, cli in found if kind == "cli")
    assert newer is not None and newer.startswith("28.5.")
    builder = ("misses", 4, "builder")  # still the builder stage's ADD
    assert verdicts == {
        ("cli-build", None): ("shares", None, None),
        ("chown", None): builder,  # the owner it sets is no part of the ADD's key
        ("buildkit", None): ("shares", None, None),  # judged from BuildKit's step report
        ("root-owned", None): builder,  # the 20.10 CLI's mode 0100644 still differs
        ("cli", newer): builder,  # the checkout's uid/gid still differ
        ("root-owned+cli", newer): ("shares", None, None),
        ("release", None): ("shares", None, None),
    }
    assert "- ❌ still misses at step 4 (stage builder): add --chown=0:0" in markdown
    assert found[("release", None)]["remedy"] == "use docker-compose 1.28.0"
    assert found[("release", None)]["stored"] is True  # the bisect's own probe
    assert "**What to do: set COMPOSE_DOCKER_CLI_BUILD=1 for docker-compose build" in markdown


def test_the_chown_remedy_on_a_scratch_stage_keeps_copy_from_and_the_step_numbers(
    runner: CellRunner,
) -> None:
    """The --chown trial of the scratch scenario: the final stage (FROM scratch, on the
    cell's stand-in) takes the owner on its ADD of the context, its COPY --from stays as
    written, and the miss is still step 6 of stage 1, as the cell without it."""
    cell = runner.run(CellSpec("1.27.4", scenario="scratch", chown="0:0"))
    assert cell.verdict is Verdict.DIVERGED, cell.reason
    assert cell.diverged_at is not None
    assert (cell.diverged_at.step, cell.diverged_at.stage) == (6, "1")
    assert cell.diverged_at.instruction == "ADD blah.txt /blah.txt"  # the user's own line
    shared = {step.step: step.shared for step in cell.steps}
    assert (shared[3], shared[5], shared[6]) == (True, True, False)
    for log in (cell.logs["compose"], cell.logs["cli"]):  # what each builder was given
        assert "Step 5/6 : COPY --from=builder /src/app /app" in log
        assert "Step 6/6 : ADD --chown=0:0 blah.txt /blah.txt" in log
