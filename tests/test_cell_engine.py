"""Real cells on a real engine: real docker-compose releases from the index, real builds."""

from __future__ import annotations

import io

import docker
import pytest

from harness.app.releases import plan_for
from harness.app.runner import CellRunner
from harness.core.compat import Compat, Override
from harness.core.labels import HARNESS
from harness.core.model import CellSpec

pytestmark = pytest.mark.engine


def _cached(cell: dict, builder: str) -> dict[int, bool]:
    return {event["step"]: event["cached"] for event in cell["build_steps"][builder]}


def test_seed_with_developer_ownership_diverges_at_the_add_step(runner: CellRunner) -> None:
    cell = runner.run(CellSpec(compose="1.20.0")).to_json()
    assert cell["verdict"] == "diverged", cell["reason"]
    assert cell["diverged_at"] == {"step": 3, "instruction": "ADD blah.txt /usr/src/blah.txt"}
    assert [step["shared"] for step in cell["steps"]] == [True, True, False, False]
    # compose built first; the CLI's log shows the RUN step reused and the ADD step rebuilt
    assert _cached(cell, "cli") == {1: False, 2: True, 3: False, 4: False}
    assert cell["owner"] == {"uid": 1000, "gid": 1000}
    assert "docker-compose==1.20.0" in cell["freeze"]
    assert cell["sdk"] and f"docker=={cell['sdk']}" in cell["freeze"]
    assert cell["sdk_in_range"] is True
    assert cell["engine"]["version"] == runner.engine.info.version
    assert cell["engine"]["storage_driver"]
    assert cell["cli"] == {"path": "docker", "version": runner.cli.version}  # as typed: no place
    assert "Step 3/4 : ADD blah.txt /usr/src/blah.txt" in cell["logs"]["compose"]
    assert cell["timings"]["build_compose"] > 0


def test_root_owned_checkout_shares_the_cache(runner: CellRunner) -> None:
    cell = runner.run(
        CellSpec(compose="1.20.0", scenario="root-owned", order="cli-first")
    ).to_json()
    assert cell["verdict"] == "shared", cell["reason"]
    assert cell["owner"] == {"uid": 0, "gid": 0}
    assert cell["order"] == ["cli", "compose"]
    assert _cached(cell, "compose") == {1: False, 2: True, 3: True, 4: True}


def test_cells_remove_what_they_made_and_only_that(runner: CellRunner) -> None:
    client = runner.engine.client
    users_image = client.api.import_image_from_data(
        _tiny_rootfs(), repository="someone/elses", tag="keep"
    )
    assert users_image
    try:
        runner.run(CellSpec(compose="1.20.0", uid=1234, gid=1234))
        assert client.images.list(all=True, filters={"label": HARNESS}) == []
        assert client.containers.list(all=True, filters={"label": HARNESS}) == []
        assert client.images.get("someone/elses:keep")
    finally:
        client.images.remove("someone/elses:keep", force=True)


def test_an_uninstallable_plan_gives_the_installers_words(runner: CellRunner) -> None:
    broken = Compat(overrides=(Override("PyYAML", "PyYAML==0.0.1", "no such release"),))
    spec = CellSpec(compose="1.20.0")
    plan = plan_for(spec, runner.releases, broken)
    cell = runner.run(spec, plan).to_json()
    assert cell["verdict"] == "uninstallable"
    assert "pyyaml" in cell["reason"].lower()
    assert cell["overrides"] == [
        {"package": "PyYAML", "requirement": "PyYAML==0.0.1", "reason": "no such release"}
    ]
    assert cell["steps"] == []


def _tiny_rootfs() -> bytes:
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("hello")
        data = b"hello\n"
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_engine_facts(runner: CellRunner) -> None:
    info = runner.engine.info
    assert info.version and info.api_version
    assert info.storage_driver in {
        "overlay2",
        "vfs",
        "btrfs",
        "zfs",
        "devicemapper",
        "fuse-overlayfs",
    }
    assert isinstance(runner.engine.client, docker.DockerClient)
