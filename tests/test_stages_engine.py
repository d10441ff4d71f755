"""A user's multi-stage project on the real engine: build args before FROM resolved from the
compose file, a per-cell base for each external image, compose's LABEL steps (its builder label
and ``build.labels``) set aside by instruction, and a verdict per stage."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.app.runner import CellRunner
from harness.core.model import CauseStatus, CellSpec, Verdict
from harness.edges.baseimage import busybox_rootfs, find_static_busybox
from harness.edges.engine import Engine

pytestmark = pytest.mark.engine
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def project(engine: Engine, tmp_path: Path) -> Iterator[Path]:
    """Two images of the user's (a build base and a runtime base) and a checkout (uid 1000)."""
    tag = uuid.uuid4().hex[:8]
    images = [f"ms-test/build:{tag}", f"ms-test/runtime:{tag}"]
    for image in images:
        repository, _, version = image.partition(":")
        engine.client.api.import_image_from_data(
            busybox_rootfs(find_static_busybox()), repository=repository, tag=version
        )
    folder = tmp_path / "app"
    (folder / "src").mkdir(parents=True)
    (folder / "Dockerfile").write_text(
        "ARG BASE=ms-test/missing:0\n"
        "FROM ${BASE} AS build\nCOPY src /src\nRUN cat /src/a > /out\n\n"
        f"FROM {images[1]}\nCOPY --from=build /out /out\n"
    )
    (folder / "src" / "a").write_text("a\n")
    (folder / "docker-compose.yml").write_text(
        "version: '2.3'\nservices:\n  web:\n    build:\n      context: .\n"
        f"      args:\n        BASE: {images[0]}\n"
        "      labels:\n        org.example.a: '1'\n        org.example.b: '2'\n"
    )
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, 1000, 1000)
    before = {image.id for image in engine.client.images.list(all=True)}
    yield folder
    after = {image.id for image in engine.client.images.list(all=True)}
    for image in images:
        engine.client.images.remove(image, force=True)
    assert not after - before, "the cells left images behind"


def test_compose_2_labels_and_stages(runner: CellRunner, project: Path) -> None:
    cell = runner.run(CellSpec(compose="2.40.3", project=str(project), service="web"))
    assert cell.verdict is Verdict.SHARED, cell.reason
    assert [(s.step, s.stage) for s in cell.steps] == [
        (2, "build"), (3, "build"), (4, "build"), (5, "1"), (6, "1"),
    ]  # fmt: skip
    assert cell.steps[0].instruction == "FROM ${BASE} AS build"  # the user's line, not ours
    added = [note for note in cell.notes if "compose build added 3 step(s)" in note]
    assert added and "LABEL org.example.a=1" in added[0] and "image.builder=classic" in added[0]
    assert cell.final_image_reused is True


def test_compose_1_misses_in_the_builder_stage_and_reuses_the_final_image(
    runner: CellRunner, project: Path
) -> None:
    spec = CellSpec(compose="1.29.2", cli_build="0", project=str(project), service="web")
    cell = runner.run(spec)
    assert cell.verdict is Verdict.DIVERGED, cell.reason
    assert cell.diverged_at is not None
    assert (cell.diverged_at.step, cell.diverged_at.stage) == (3, "build")
    assert cell.diverged_at.instruction == "COPY src /src"
    assert [s.shared for s in cell.steps] == [True, False, False, True, True]
    assert cell.final_image_reused is True
    assert any("compose build added 2 step(s)" in note for note in cell.notes)


def test_onbuild_triggers_of_the_base_run_in_the_measured_builds(
    runner: CellRunner, engine: Engine, tmp_path: Path
) -> None:
    """The base's ``ONBUILD ADD`` runs inside each measured build's FROM step (the per-cell base
    keeps the trigger armed): docker-py's uid 1000 against the CLI's 0 misses right there."""
    tag = uuid.uuid4().hex[:8]
    parent = f"ms-test/onbuild:{tag}"
    engine.client.api.import_image_from_data(
        busybox_rootfs(find_static_busybox()),
        repository="ms-test/onbuild",
        tag=tag,
        changes=["ONBUILD ADD blah.txt /blah.txt"],
    )
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "Dockerfile").write_text(f"FROM {parent}\nRUN cat /blah.txt\n")
    (folder / "blah.txt").write_text("blah\n")
    (folder / "docker-compose.yml").write_text("version: '2'\nservices:\n  web:\n    build: .\n")
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, 1000, 1000)
    try:
        spec = CellSpec(compose="1.29.2", cli_build="0", project=str(folder), service="web")
        cell = runner.run(spec)
        onbuild = engine.client.api.inspect_image(parent)["Config"]["OnBuild"]
    finally:
        engine.client.images.remove(parent, force=True)
    assert onbuild == ["ADD blah.txt /blah.txt"]  # the user's image keeps its trigger
    assert cell.verdict is Verdict.DIVERGED, cell.reason
    assert cell.diverged_at is not None and cell.diverged_at.step == 1
    assert "# Executing 1 build trigger" in cell.logs["compose"]
    assert "# Executing 1 build trigger" in cell.logs["cli"]


def test_a_dockerfile_outside_the_context_is_explained(
    runner: CellRunner, engine: Engine, tmp_path: Path
) -> None:
    """The CLI sends such a context without the end-of-archive blocks; explain reads it as
    the engine does and proves the cause instead of stopping at Python's tarfile."""
    tag = uuid.uuid4().hex[:8]
    engine.client.api.import_image_from_data(
        busybox_rootfs(find_static_busybox()), repository="ms-test/outside", tag=tag
    )
    folder = tmp_path / "app"
    shutil.copytree(ROOT / "fixtures" / "custom-dockerfile", folder)
    dockerfile = folder / "docker" / "Custom.Dockerfile"
    dockerfile.write_text(
        dockerfile.read_text().replace("cache-bisect/busybox", f"ms-test/outside:{tag}")
    )
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, 1000, 1000)
    spec = CellSpec(
        compose="1.29.2", cli_build="0", project=str(folder), service="test", explain=True
    )
    try:
        cell = runner.run(spec)
    finally:
        engine.client.images.remove(f"ms-test/outside:{tag}", force=True)
    assert cell.verdict is Verdict.DIVERGED, cell.reason
    assert cell.explain_cause is not None
    assert cell.explain_cause.status is CauseStatus.PROVEN, cell.explain_summary
