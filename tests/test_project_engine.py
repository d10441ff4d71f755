"""Bring your own project: a user's compose project through repro, matrix and bisect (legacy,
explain on), copied and never modified — every file of the user's tree and every file its
links reach, and every image and tag of the engine, as they were — with results of its own
that name the project by its folder, never by where it lies."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker.errors
import pytest

from harness.edges.baseimage import busybox_rootfs, find_static_busybox
from harness.edges.engine import Engine
from tests.snapshots import engine_snapshot, tree_snapshot

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.engine


@dataclass(frozen=True)
class Users:
    root: Path  # everything of the user's: the project and what its links reach
    project: Path
    base: str  # the image the Dockerfile starts from
    image: str  # the image the service's `image:` names, which the user has


def _absent(engine: Engine, name: str) -> None:
    """The test creates ``name`` and removes it after: it must not be someone's already."""
    with pytest.raises(docker.errors.ImageNotFound):
        engine.client.images.get(name)


@pytest.fixture
def users(engine: Engine, tmp_path: Path) -> Iterator[Users]:
    """A developer's checkout (uid 1000) named uniquely, whose service is tagged like an image
    they have; the Dockerfile is a link into docker/, a file links out of the project."""
    token = uuid.uuid4().hex[:8]
    base, image = f"someorg/base:t{token}", f"someorg/app:t{token}"
    for name in (base, image):
        _absent(engine, name)
        engine.client.api.import_image_from_data(
            busybox_rootfs(find_static_busybox()), *name.split(":")
        )
    root = tmp_path / "user"
    folder, outside = root / f"shop-{token}", root / "outside"
    for made in (folder / "src", folder / "docker", outside):
        made.mkdir(parents=True)
    (folder / "docker" / "Dockerfile.app").write_text(
        f"FROM {base}\nRUN echo deps > /deps\nCOPY src /app/src\nRUN ls /app/src\n"
    )
    (folder / "Dockerfile").symlink_to("docker/Dockerfile.app")
    (folder / "src" / "main.py").write_text("print('hello')\n")
    (outside / "settings.txt").write_text("shared=1\n")
    (folder / "src" / "settings.txt").symlink_to(outside / "settings.txt")
    (folder / "docker-compose.yml").write_text(
        f"version: '2.1'\nservices:\n  web:\n    build: .\n    image: {image}\n"
    )
    for path in [root, *root.rglob("*")]:
        os.lchown(path, 1000, 1000)
    yield Users(root, folder, base, image)
    for name in (base, image):
        engine.client.images.remove(name, force=True)


def harness(*args: str, engine: Engine) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=ROOT,
        env={**os.environ, "DOCKER_HOST": engine.host},
        capture_output=True,
        text=True,
        timeout=1200,
    )


@pytest.fixture
def own_results(users: Users) -> Iterator[Path]:
    """The project's default results folder in the checkout, removed after (it is new)."""
    folder = ROOT / "results" / "projects" / users.project.name
    assert not folder.exists()
    had_projects = folder.parent.exists()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
    if not had_projects and folder.parent.exists() and not any(folder.parent.iterdir()):
        folder.parent.rmdir()


def test_project_through_repro_matrix_and_bisect(
    engine: Engine, users: Users, own_results: Path, tmp_path: Path
) -> None:
    project = users.project
    tree, images = tree_snapshot(users.root), engine_snapshot(engine.client)
    published = {
        path: path.read_bytes() for path in (ROOT / "results").rglob("*") if path.is_file()
    }

    out = tmp_path / "repro.json"
    done = harness(
        "repro", "--compose", "1.27.4", "--project", str(project), "--service", "web",
        "--explain", "--json", str(out), engine=engine,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    cell = json.loads(out.read_text())
    assert cell["verdict"] == "diverged"
    assert cell["diverged_at"] == {"step": 3, "instruction": "COPY src /app/src"}
    assert any(d["path"] == "src/main.py" and d["field"] == "uid" for d in cell["explain"])
    assert cell["base"] == {"from": users.base, "kind": "registry"}

    config = tmp_path / "m.toml"  # the harness's rules apply
    config.write_text('[matrix]\ncompose = ["1.27.4", "1.28.0"]\n[run]\nexplain = true\n')
    same = ("--config", str(config), "--project", str(project), "--service", "web")
    done = harness("matrix", *same, engine=engine)
    assert done.returncode == 0, done.stderr
    document = json.loads((own_results / "matrix.json").read_text())
    assert [(c["compose"], c["verdict"]) for c in document["cells"]] == [
        ("1.27.4", "diverged"),
        ("1.28.0", "shared"),
    ]
    assert document["cells"][0]["explain"], "explain ran on the diverged cell"
    assert document["reproduce"].endswith(f"--project {project.name} --service web")

    done = harness("bisect", "1.27.4", "1.28.0", *same, engine=engine)
    assert done.returncode == 0, done.stderr
    report = json.loads((own_results / "bisect.json").read_text())
    assert (report["status"], report["first_new"]) == ("found", "1.28.0")
    assert report["reproduce"].endswith(f"--project {project.name} --service web")
    assert "2 probes, 0 new builds" in done.stdout, done.stdout  # both from the matrix store

    body = harness(
        "publish", "--dry-run", "--what", "all", "--results", str(own_results), engine=engine
    )
    assert body.returncode == 0, body.stderr
    assert project.name in body.stdout
    written = [path.read_text() for path in own_results.rglob("*") if path.is_file()]
    for text in [body.stdout, *written]:  # the project by its folder's name, never its place
        assert str(users.root) not in text and str(tmp_path) not in text

    assert tree_snapshot(users.root) == tree
    after = engine_snapshot(engine.client)
    assert after["images"] == images["images"]  # every image and tag, and no new one
    for kind in ("containers", "networks", "volumes"):
        assert after[kind] == images[kind], kind
    assert {
        path: path.read_bytes()
        for path in (ROOT / "results").rglob("*")
        if path.is_file()
        if not path.is_relative_to(own_results)
    } == published  # the harness's published results untouched


def test_project_needs_a_service(engine: Engine, users: Users) -> None:
    project = users.project
    done = harness("repro", "--compose", "1.27.4", "--project", str(project), engine=engine)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: --project and --service go together"
    done = harness(
        "repro", "--compose", "1.27.4", "--project", str(project), "--service", "db", engine=engine
    )
    assert done.returncode == 2
    assert "no service 'db' in the compose file (services: web)" in done.stderr
