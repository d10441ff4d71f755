"""The CI workflow that runs the matrix in shards: actionlint passes, and its plan job lists
exactly the shards the harness accepts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import yaml

from harness.core.shards import parse_shard

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "matrix.yml"


def _actionlint(path: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("actionlint")
    assert binary, "actionlint is missing: pip install -e '.[test]'"
    return subprocess.run(
        [binary, "-no-color", "-shellcheck=", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_actionlint_passes_on_the_matrix_workflow() -> None:
    checked = _actionlint(WORKFLOW)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_actionlint_would_catch_a_broken_shard_list(tmp_path: Path) -> None:
    broken = tmp_path / ".github" / "workflows" / "matrix.yml"
    broken.parent.mkdir(parents=True)
    text = WORKFLOW.read_text()
    assert "needs.plan.outputs.shards" in text
    broken.write_text(text.replace("needs.plan.outputs.shards", "needs.plan.outputs.shard_list"))
    checked = _actionlint(broken)
    assert checked.returncode != 0 and "shard_list" in checked.stdout


def test_plan_job_lists_every_shard_and_each_job_runs_and_merges_them(tmp_path: Path) -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    jobs = workflow["jobs"]
    (listing,) = [step for step in jobs["plan"]["steps"] if step.get("id") == "list"]
    output = tmp_path / "output"
    subprocess.run(
        ["bash", "-e", "-c", listing["run"]],
        env={**os.environ, "COUNT": "3", "GITHUB_OUTPUT": str(output)},
        check=True,
        timeout=60,
    )
    name, _, value = output.read_text().strip().partition("=")
    shards = [parse_shard(text) for text in json.loads(value)]
    assert name == "shards" and [(s.index, s.count) for s in shards] == [(1, 3), (2, 3), (3, 3)]
    assert jobs["shard"]["strategy"]["matrix"]["shard"] == (
        "${{ fromJSON(needs.plan.outputs.shards) }}"
    )
    runs = {job: "\n".join(step.get("run", "") for step in jobs[job]["steps"]) for job in jobs}
    assert '--shard "$SHARD"' in runs["shard"] and "docker.io" in runs["shard"]
    # engines and CLIs by version come from Debian's archive: the shards run on Debian
    container = jobs["shard"]["container"]
    assert container["image"].startswith("debian:") and "--privileged" in container["options"]
    assert "--merge shards/*" in runs["merge"] and "nox -s publish" in runs["merge"]
