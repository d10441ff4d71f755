"""An image the project's Dockerfile needs that the engine lacks and cannot pull stops the run
in one line naming the way out, before anything is installed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.edges.engine import Engine

ROOT = Path(__file__).resolve().parent.parent
HARNESS = (sys.executable, "-m", "harness")
pytestmark = pytest.mark.engine


def test_a_missing_base_image_stops_the_run_before_the_install(
    engine: Engine, tmp_path: Path
) -> None:
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "Dockerfile").write_text(
        "ARG BASE=cache-bisect-test/never-built:1\nFROM ${BASE} AS build\nRUN true\n"
        "FROM build\nRUN true\n"
    )
    (folder / "docker-compose.yml").write_text("services:\n  web:\n    build: .\n")
    done = subprocess.run(
        [*HARNESS, "repro", "--compose", "1.27.4", "--project", str(folder), "--service", "web"],
        cwd=ROOT,
        env={**os.environ, "DOCKER_HOST": engine.host, "CACHE_BISECT_ENGINE": "external"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: cache-bisect-test/never-built:1 is not in the engine at ")
    assert "cannot be pulled" in lines[0] and "DOCKER_HOST or --engine" in lines[0]
    assert "installing" not in done.stdout + done.stderr
