"""BuildKit's build cache: a private engine's is pruned by the last run out (its records carry
no cell label, and its data outlives the run); an engine the user named keeps every record."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import docker
import pytest

from harness.edges.engine import Engine, ManagedDockerd, connect
from tests.test_compose_v2_engine import _buildkit_cli

pytestmark = pytest.mark.engine


def _buildkit_build(host: str, folder: Path) -> None:
    """A BuildKit build that needs no base image and no network, exported to a folder (no
    image is made): it leaves build cache records."""
    folder.mkdir()
    (folder / "Dockerfile").write_text("FROM scratch\nCOPY data.txt /data.txt\n")
    (folder / "data.txt").write_text(f"{folder}\n")
    environment = {**os.environ, "DOCKER_HOST": host, "DOCKER_BUILDKIT": "1"}
    command = [_buildkit_cli().path, "build", "--output", f"type=local,dest={folder / 'out'}"]
    done = subprocess.run(
        [*command, str(folder)], env=environment, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert (folder / "out" / "data.txt").is_file()


def _records(client: docker.DockerClient) -> set[str]:
    return {entry["ID"] for entry in client.df().get("BuildCache") or []}


@pytest.mark.dockerd
def test_the_last_run_out_prunes_the_private_engines_build_cache(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """A run that leaves while another still holds the engine prunes nothing (the other's
    cells may still need their records); the last one out prunes them all."""
    state = tmp_path_factory.mktemp("bc")
    said: list[str] = []
    with connect(managed=ManagedDockerd(state), log=said.append) as first:
        with connect(managed=ManagedDockerd(state), log=said.append) as second:
            _buildkit_build(second.host, tmp_path / "second")
        built = _records(first.client)
        assert built, "the BuildKit build left records"
        assert not [line for line in said if "build cache" in line]  # the first still runs
        _buildkit_build(first.host, tmp_path / "first")
        assert _records(first.client) >= built
    pruned = [line for line in said if "build cache" in line]
    assert len(pruned) == 1 and pruned[0].startswith("pruned the private engine's build cache:")
    assert ManagedDockerd(state).running_pid() is None  # stopped after the prune
    with connect(managed=ManagedDockerd(state), log=said.append) as again:
        assert _records(again.client) == set()


def test_an_engine_the_user_named_keeps_its_build_cache(engine: Engine, tmp_path: Path) -> None:
    """Through the harness's own connect (the engine of DOCKER_HOST), records made before and
    during the run are all there after it: the user's build cache is the user's."""
    before = _records(engine.client)
    _buildkit_build(engine.host, tmp_path / "before")
    made = _records(engine.client) - before
    assert made, "the BuildKit build left records"
    said: list[str] = []
    with connect(log=said.append) as named:
        assert named.info.managed is False
        _buildkit_build(named.host, tmp_path / "during")
        made |= _records(named.client) - before
    assert _records(engine.client) >= before | made
    assert not [line for line in said if "build cache" in line]
    for record in made:  # remove what this test made, and only that
        engine.client.api.prune_builds(filters={"id": record})
    assert _records(engine.client) & made == set()
