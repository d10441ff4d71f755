"""Benchmark: the default matrix cold and warm, and the harness's overhead over the builds.

    python bench/matrix_overhead.py [--config matrix.toml]

Cold = a fresh harness cache (new venvs, fresh result store; uv's own download cache is
whatever the machine has). Warm = the same run again (every cell comes from the store).
Overhead ratio = wall time / time the two builders spent building (from the cells' timings).
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


def run_matrix(config: Path, results: Path, cache: Path) -> float:
    started = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "matrix",
            "--config",
            str(config),
            "--results",
            str(results),
        ],
        cwd=ROOT,
        env={**os.environ, "CACHE_BISECT_HOME": str(cache)},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.monotonic() - started


def build_seconds(results: Path) -> tuple[float, float, int]:
    cells = json.loads((results / "matrix.json").read_text())["cells"]
    builds = sum(
        c["timings"].get("build_compose", 0) + c["timings"].get("build_cli", 0) for c in cells
    )
    installs = sum(c["timings"].get("install", 0) for c in cells)
    return builds, installs, len(cells)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "matrix.toml")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cache-bisect-bench-") as scratch:
        cache, results = Path(scratch) / "cache", Path(scratch) / "results"
        cold = run_matrix(args.config, results, cache)
        builds, installs, cells = build_seconds(results)
        warm = run_matrix(args.config, results, cache)
    print(f"cells: {cells}")
    print(f"cold: {cold:.1f}s wall, {builds:.1f}s building, {installs:.1f}s installing venvs")
    print(f"cold overhead ratio (wall / build time): {cold / builds:.2f}")
    print(f"cold overhead ratio excluding venv installs: {(cold - installs) / builds:.2f}")
    print(f"warm: {warm:.1f}s wall, 0 builds (every cell from the store)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
