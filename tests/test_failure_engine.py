"""A build that fails reproducibly is a behaviour: bisect sees it start to work.

docker-py 3.1.2's changelog: "Fixed a bug that led to a Dockerfile not being included in the
build context in some situations when the Dockerfile's path was prefixed with `./`". With
`dockerfile: ./Dockerfile` excluded by .dockerignore, compose 1.20.0 fails to build with the
older SDKs. 3.1.2 cannot run under compose 1.20.0 at all (a skip), so the change is pinned to
3.1.2 or 3.1.3 (3.1.3 only regenerated the wheel).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.edges.baseimage import busybox_rootfs, find_static_busybox
from harness.edges.engine import Engine

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.engine, pytest.mark.network]


@pytest.fixture
def excluded_dockerfile(engine: Engine, tmp_path: Path) -> Iterator[Path]:
    engine.client.api.import_image_from_data(
        busybox_rootfs(find_static_busybox()), repository="failtest/base", tag="1"
    )
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "Dockerfile").write_text("FROM failtest/base:1\nRUN echo hi > /hi\n")
    (folder / ".dockerignore").write_text("Dockerfile\n")
    (folder / "docker-compose.yml").write_text(
        "version: '2.1'\nservices:\n  web:\n    build:\n      context: .\n"
        "      dockerfile: ./Dockerfile\n"
    )
    yield folder
    engine.client.images.remove("failtest/base:1", force=True)


def test_bisect_sees_a_failing_build_start_to_work(
    engine: Engine, excluded_dockerfile: Path, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    done = subprocess.run(
        [
            sys.executable, "-m", "harness", "bisect", "--package", "docker",
            "--compose", "1.20.0", "3.1.0", "3.1.4",
            "--project", str(excluded_dockerfile), "--service", "web",
            "--results", str(results),
        ],
        cwd=ROOT,
        env={**os.environ, "DOCKER_HOST": engine.host},
        capture_output=True,
        text=True,
        timeout=1800,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads((results / "bisect.json").read_text())
    verdicts = {p["version"]: p["verdict"] for p in report["probes"]}
    fails = "fails: compose: Cannot locate specified Dockerfile: ./Dockerfile"
    assert verdicts["3.1.0"] == fails and verdicts["3.1.4"] == "shared"
    assert (report["status"], report["candidates"]) == ("ambiguous", ["3.1.2", "3.1.3"])
    assert (report["last_old"], report["first_new"]) == ("3.1.1", "3.1.3")
    assert verdicts["3.1.2"] == "skip"  # compose 1.20.0 cannot call SDK 3.1.2's API
    assert "--sdk 3.1.3" in report["reproduce"] and "--sdk 3.1.1" in report["reproduce_old"]
    assert "old behaviour:" in done.stdout and "new behaviour:" in done.stdout
