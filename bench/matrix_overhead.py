"""Benchmark: the default matrix cold, sequential vs parallel with warm venvs, and a fully
stored rerun with the managed engine, in one run.

    python bench/matrix_overhead.py [--config matrix.toml] [--jobs 2] [--results DIR]
                                    [--skip-warm]

Cold = a fresh harness cache (new venvs, fresh result store; uv's own download cache is
whatever the machine has), default --jobs. Warm = the venvs exist: every cell is built again
(--force), once with --jobs 1 and once with --jobs N, and their verdicts are compared.
Stored rerun = every cell in the store, with the managed engine (no DOCKER_HOST; needs root
and dockerd): through ``python -m harness`` and through ``nox -s matrix``; it must start no
engine. Overhead ratio = wall time / time the two builders spent building. With engines and
CLIs by version (matrix.toml's engine and cli axes), cold includes fetching them.
``--results DIR`` keeps the cold run's tables and cells there (e.g. to regenerate results/),
and the stored rerun reads them; ``--skip-warm`` leaves out the two warm runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STARTED_ENGINE = "starting a private dockerd"


def run_matrix(
    config: Path, results: Path, cache: Path, *extra: str, managed: bool = False, nox: bool = False
) -> tuple[float, str]:
    """Wall seconds and stdout of one matrix run."""
    env = {**os.environ, "CACHE_BISECT_HOME": str(cache)}
    if managed:  # the harness's own private engine, as on a machine without one running
        env.pop("DOCKER_HOST", None)
        env.pop("CACHE_BISECT_ENGINE", None)
    # From the checkout, as a user types it: the tables' reproduce line names no machine path
    whole = config.resolve()
    named = whole.relative_to(ROOT) if whole.is_relative_to(ROOT) else whole
    args = ["--config", str(named), "--results", str(results), *extra]
    argv = (
        ["nox", "-s", "matrix", "--", *args]
        if nox
        else [sys.executable, "-m", "harness", "matrix", *args]
    )
    started = time.monotonic()
    done = subprocess.run(argv, cwd=ROOT, env=env, check=True, stdout=subprocess.PIPE, text=True)
    return time.monotonic() - started, done.stdout


def cells_of(results: Path) -> list[dict]:
    return json.loads((results / "matrix.json").read_text())["cells"]


def build_seconds(results: Path) -> tuple[float, float, int]:
    cells = cells_of(results)
    builds = sum(
        c["timings"].get("build_compose", 0) + c["timings"].get("build_cli", 0) for c in cells
    )
    installs = sum(c["timings"].get("install", 0) for c in cells)
    return builds, installs, len(cells)


def verdicts(results: Path) -> list[tuple[str, str, str, str, int | None]]:
    return [
        (
            c["compose"],
            c["cli_build"],
            c["scenario"],
            c["verdict"],
            (c.get("diverged_at") or {}).get("step"),
        )
        for c in cells_of(results)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "matrix.toml")
    parser.add_argument("--jobs", type=int, default=2, help="the parallel run's --jobs")
    parser.add_argument(
        "--cache",
        type=Path,
        help="an existing CACHE_BISECT_HOME whose venvs are warm: skip the cold run",
    )
    parser.add_argument("--results", type=Path, help="where the cold run writes (default: temp)")
    parser.add_argument("--skip-warm", action="store_true", help="no warm --jobs 1 / N runs")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, {platform.platform()}, load {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="cache-bisect-bench-") as scratch:
        cache, results = args.cache or Path(scratch) / "cache", Path(scratch) / "results"
        if args.cache is None:
            cold_dir = args.results or results / "cold"
            cold, _ = run_matrix(args.config, cold_dir, cache)
            builds, installs, cells = build_seconds(cold_dir)
            print(f"cells: {cells}")
            print(
                f"cold (fresh venvs, default --jobs): {cold:.1f}s wall, {builds:.1f}s building, "
                f"{installs:.1f}s in installs (summed over cells, waits for a shared venv "
                "included)"
            )
            print(f"cold overhead ratio (wall / build time): {cold / builds:.2f}")

        same = True
        if not args.skip_warm:
            sequential, _ = run_matrix(
                args.config, results / "seq", cache, "--force", "--jobs", "1"
            )
            parallel, _ = run_matrix(
                args.config, results / "par", cache, "--force", "--jobs", str(args.jobs)
            )
            same = verdicts(results / "seq") == verdicts(results / "par")
            print(
                f"warm venvs, every cell built: --jobs 1 {sequential:.1f}s, --jobs {args.jobs} "
                f"{parallel:.1f}s: {sequential / parallel:.2f}x faster; same verdicts: {same}"
            )

        if os.geteuid() != 0 or shutil.which("dockerd") is None:
            print("stored rerun with the managed engine: skipped (needs root and dockerd)")
            return 0 if same else 1
        stored = args.results if args.results and args.cache is None else results / "managed"
        if stored != args.results:
            run_matrix(args.config, stored, cache, managed=True)  # fills the store on that engine
        direct, out = run_matrix(args.config, stored, cache, managed=True)
        through_nox, nox_out = run_matrix(args.config, stored, cache, managed=True, nox=True)
        started = STARTED_ENGINE in out or STARTED_ENGINE in nox_out
        print(
            f"stored rerun, managed engine: {direct:.2f}s (python -m harness), "
            f"{through_nox:.2f}s (nox -s matrix); an engine was started: {started}"
        )
        print(f"load at the end: {os.getloadavg()[0]:.1f}")
    return 0 if same and not started else 1


if __name__ == "__main__":
    sys.exit(main())
