"""Benchmark: what trying the remedies adds to a cold matrix, per diverged cell, and whether
remedies fit the default matrix's cold budget.

    python bench/remedies_cost.py [--config matrix.toml] [--jobs 2] [--budget 480] [--cli PATH]

One run: the matrix cold (a fresh harness cache: new venvs, an empty result store) without
remedies, then the same results folder again with ``--remedies`` (every cell is stored, so
only the remedies are tried). It prints the wall seconds of both, the extra builds and the
seconds each diverged cell spent on remedies (a trial that is a stored cell costs none), how
many trials came from the store, and whether cold + remedies stays within ``--budget``.
Needs a Docker engine (DOCKER_HOST, or the managed one).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_matrix(config: Path, results: Path, cache: Path, *extra: str) -> float:
    """Wall seconds of one matrix run (its output passes through: progress on long work)."""
    env = {**os.environ, "CACHE_BISECT_HOME": str(cache)}
    argv = [
        sys.executable, "-m", "harness", "matrix", "--config", str(config),
        "--results", str(results), *extra,
    ]  # fmt: skip
    started = time.monotonic()
    subprocess.run(argv, cwd=ROOT, env=env, check=True)
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "matrix.toml")
    parser.add_argument("--jobs", type=int, default=2, help="cells (and remedied cells) at once")
    parser.add_argument("--cli", help="the reference docker CLI (default: [run] cli, else docker)")
    parser.add_argument(
        "--budget", type=float, default=480, help="the cold budget in seconds (default: 480)"
    )
    args = parser.parse_args()
    extra = ["--jobs", str(args.jobs), *(["--cli", args.cli] if args.cli else [])]
    with tempfile.TemporaryDirectory(prefix="remedies-bench-") as scratch:
        cache, results = Path(scratch) / "cache", Path(scratch) / "results"
        cold = run_matrix(args.config, results, cache, *extra)
        remedies = run_matrix(args.config, results, cache, *extra, "--remedies")
        cells = json.loads((results / "matrix.json").read_text())["cells"]
    tried = [c for c in cells if c.get("remedies")]
    print(f"\nmatrix {args.config.name}: {len(cells)} cells, {len(tried)} diverged (remedied)")
    print(f"cold, no remedies: {cold:.1f} s wall (--jobs {args.jobs})")
    print(f"remedies on the stored cells: {remedies:.1f} s wall")
    total_builds = total_seconds = 0.0
    for cell in tried:
        found = cell["remedies"]
        builds = sum(r["builds"] for r in found)
        seconds = sum(r["seconds"] for r in found)
        stored = sum(1 for r in found if r["stored"])
        total_builds += builds
        total_seconds += seconds
        best = next((r["remedy"] for r in found if r["verdict"] == "shares"), "none")
        print(
            f"  {cell['compose']:>7} {cell['cli_build']:>7} {cell.get('builder', 'legacy'):>8}: "
            f"{len(found)} remedies, {stored} stored, {builds} builds, {seconds:.1f} s; "
            f"cheapest proven: {best}"
        )
    if tried:
        print(
            f"per diverged cell: {total_builds / len(tried):.1f} builds, "
            f"{total_seconds / len(tried):.1f} s (cell time, summed over parallel trials)"
        )
    within = cold + remedies <= args.budget
    print(
        f"cold + remedies: {cold + remedies:.1f} s vs budget {args.budget:.0f} s: "
        f"{'within' if within else 'over'} budget"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
