"""Bring your own project: a user's compose project through repro, matrix and bisect, copied
and never modified, the user's images and tags left as they were."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.edges.baseimage import busybox_rootfs, find_static_busybox
from harness.edges.contextdigest import tree_entries
from harness.edges.engine import Engine

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.engine


@pytest.fixture
def project(engine: Engine, tmp_path: Path) -> Iterator[Path]:
    """A developer's checkout (uid 1000) whose service is tagged like an image they have."""
    client = engine.client
    client.api.import_image_from_data(
        busybox_rootfs(find_static_busybox()), repository="someorg/base", tag="1"
    )
    client.api.import_image_from_data(
        busybox_rootfs(find_static_busybox()), repository="someorg/app", tag="dev"
    )
    folder = tmp_path / "app"
    (folder / "src").mkdir(parents=True)
    (folder / "Dockerfile").write_text(
        "FROM someorg/base:1\nRUN echo deps > /deps\nCOPY src /app/src\nRUN ls /app/src\n"
    )
    (folder / "src" / "main.py").write_text("print('hello')\n")
    (folder / "docker-compose.yml").write_text(
        "version: '2.1'\nservices:\n  web:\n    build: .\n    image: someorg/app:dev\n"
    )
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, 1000, 1000)
    yield folder
    for name in ("someorg/app:dev", "someorg/base:1"):
        client.images.remove(name, force=True)


def harness(*args: str, engine: Engine) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=ROOT,
        env={**os.environ, "DOCKER_HOST": engine.host},
        capture_output=True,
        text=True,
        timeout=1200,
    )


def test_project_through_repro_matrix_and_bisect(
    engine: Engine, project: Path, tmp_path: Path
) -> None:
    users_app = engine.client.images.get("someorg/app:dev").id
    before = tree_entries(project)

    out = tmp_path / "repro.json"
    done = harness(
        "repro",
        "--compose",
        "1.27.4",
        "--project",
        str(project),
        "--service",
        "web",
        "--explain",
        "--json",
        str(out),
        engine=engine,
    )
    assert done.returncode == 0, done.stderr
    cell = json.loads(out.read_text())
    assert cell["verdict"] == "diverged"
    assert cell["diverged_at"] == {"step": 3, "instruction": "COPY src /app/src"}
    assert any(d["path"] == "src/main.py" and d["field"] == "uid" for d in cell["explain"])
    assert cell["base"] == {"from": "someorg/base:1", "kind": "registry"}

    config = tmp_path / "m.toml"
    config.write_text('[matrix]\ncompose = ["1.27.4", "1.28.0"]\n')  # the harness's rules apply
    results = tmp_path / "results"
    same = (
        "--config",
        str(config),
        "--results",
        str(results),
        "--project",
        str(project),
        "--service",
        "web",
    )
    done = harness("matrix", *same, engine=engine)
    assert done.returncode == 0, done.stderr
    document = json.loads((results / "matrix.json").read_text())
    assert "--project" in document["reproduce"] and "--service web" in document["reproduce"]
    cells = document["cells"]
    assert [(c["compose"], c["verdict"]) for c in cells] == [
        ("1.27.4", "diverged"),
        ("1.28.0", "shared"),
    ]

    done = harness("bisect", "1.27.4", "1.28.0", *same, engine=engine)
    assert done.returncode == 0, done.stderr
    report = json.loads((results / "bisect.json").read_text())
    assert (report["status"], report["first_new"]) == ("found", "1.28.0")
    assert "--project" in report["reproduce"]
    assert "2 probes, 0 new builds" in done.stdout, done.stdout  # both from the matrix store

    assert engine.client.images.get("someorg/app:dev").id == users_app
    assert tree_entries(project) == before
    assert {p.name for p in project.iterdir()} == {"Dockerfile", "src", "docker-compose.yml"}


def test_project_needs_a_service(engine: Engine, project: Path) -> None:
    done = harness("repro", "--compose", "1.27.4", "--project", str(project), engine=engine)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: --project and --service go together"
    done = harness(
        "repro", "--compose", "1.27.4", "--project", str(project), "--service", "db", engine=engine
    )
    assert done.returncode == 2
    assert "no service 'db' in the compose file (services: web)" in done.stderr
