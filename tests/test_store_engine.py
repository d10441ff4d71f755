"""A user's project as it is sent: the store key covers every file's owner, and the copy
leaves no file out."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.app.runner import CellRunner
from harness.app.store import ResultStore, StoredCells
from harness.core.model import CellSpec
from harness.edges.baseimage import busybox_rootfs, find_static_busybox
from harness.edges.engine import Engine

pytestmark = pytest.mark.engine


@pytest.fixture
def root_owned_project(engine: Engine, tmp_path: Path) -> Iterator[Path]:
    engine.client.api.import_image_from_data(
        busybox_rootfs(find_static_busybox()), repository="storetest/base", tag="1"
    )
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "Dockerfile").write_text(
        "FROM storetest/base:1\nRUN echo deps > /deps\nCOPY app.txt /app.txt\nRUN cat /app.txt\n"
    )
    (folder / "app.txt").write_text("hello\n")
    (folder / "docker-compose.yml").write_text("version: '2.1'\nservices:\n  web:\n    build: .\n")
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, 0, 0)
    yield folder
    engine.client.images.remove("storetest/base:1", force=True)


def test_a_chown_in_the_project_is_not_answered_from_the_store(
    runner: CellRunner, root_owned_project: Path, tmp_path: Path
) -> None:
    cells = StoredCells(runner, ResultStore(tmp_path / "cells"))
    spec = CellSpec(compose="1.27.4", project=str(root_owned_project), service="web")

    first, stored = cells.get(spec)
    assert (first.verdict, stored) == ("shared", False), first.reason
    again, stored = cells.get(spec)
    assert (again.verdict, stored, again.cell_id) == ("shared", True, first.cell_id)

    os.chown(root_owned_project / "app.txt", 1000, 1000)
    fresh = StoredCells(runner, ResultStore(tmp_path / "cells"))  # a new run reads the project
    changed, stored = fresh.get(spec)
    assert (changed.verdict, stored) == ("diverged", False), changed.reason
    assert changed.diverged_at is not None and changed.diverged_at.step == 3


def test_other_dockerfiles_of_a_project_are_part_of_what_is_sent(
    runner: CellRunner, root_owned_project: Path
) -> None:
    """`COPY . /app` reads every file: a Dockerfile.dev owned by 1000 makes the caches differ."""
    (root_owned_project / "Dockerfile").write_text("FROM storetest/base:1\nCOPY . /app\n")
    (root_owned_project / "Dockerfile.dev").write_text("FROM storetest/base:1\n")
    os.chown(root_owned_project / "Dockerfile.dev", 1000, 1000)
    spec = CellSpec(compose="1.27.4", project=str(root_owned_project), service="web")
    result = runner.run(spec)
    assert result.verdict == "diverged", result.reason
    assert result.diverged_at is not None and result.diverged_at.step == 2
    assert result.owners == ("0:0", "1000:1000")  # every owner seen, not the Dockerfile's
