"""A result names its reference CLI and engine by no place on this machine: the harness's own
CLIs under ``$CACHE_BISECT_HOME``, a CLI PATH finds by its name, any other ``<cli>`` (its
version beside it); a socket outside the cache ``unix://<socket-DIGEST>``. The store writes
and reads cells so, whoever made them; a shard's manifest is written so."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from harness.app.merge import write_manifest
from harness.app.store import ResultStore
from harness.core.model import CellSpec, CliInfo, EngineInfo
from harness.core.shards import Shard
from harness.edges.builders import find_cli
from harness.edges.paths import cli_named, engine_named, redact_cell
from tests.factories import cell_result


def _executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache, and a PATH whose first ``docker`` is bin/docker; another in other/."""
    monkeypatch.setenv("CACHE_BISECT_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", os.pathsep.join([str(tmp_path / "bin"), str(tmp_path / "other")]))
    for where in ("bin/docker", "other/docker", "other/docker-20", "opt/docker"):
        _executable(tmp_path / where)
    return tmp_path


def test_a_cli_is_named_as_typed_or_by_the_cache_else_as_elsewhere(machine: Path) -> None:
    provisioned = machine / "cache" / "tools" / "cli-28.5.2" / "usr" / "bin" / "docker"
    assert cli_named(str(provisioned)) == "$CACHE_BISECT_HOME/tools/cli-28.5.2/usr/bin/docker"
    assert cli_named(str(machine / "bin" / "docker")) == "docker"  # the docker PATH finds
    assert cli_named(str(machine / "other" / "docker-20")) == "docker-20"
    assert cli_named(str(machine / "other" / "docker")) == "<cli>"  # PATH finds another first
    assert cli_named(str(machine / "opt" / "docker")) == "<cli>"
    assert cli_named("docker") == "docker" and cli_named("<cli>") == "<cli>"  # named twice


def test_an_engine_socket_outside_the_cache_is_not_named(machine: Path) -> None:
    elsewhere = f"unix://{machine}/run/docker.sock"
    digest = hashlib.sha256(elsewhere.encode()).hexdigest()[:8]
    assert engine_named(elsewhere) == f"unix://<socket-{digest}>"
    assert engine_named(f"unix://{machine}/run/other.sock") != engine_named(elsewhere)
    assert engine_named(engine_named(elsewhere)) == engine_named(elsewhere)
    inside = f"unix://{machine}/cache/engine/docker.sock"
    assert engine_named(inside) == "unix://$CACHE_BISECT_HOME/engine/docker.sock"
    assert engine_named("tcp://10.0.0.5:2375") == "tcp://10.0.0.5:2375"
    assert engine_named(None) is None


def test_a_cell_and_its_stored_file_name_no_machine_path(machine: Path) -> None:
    config = machine / "cache" / "tools" / "cli-28.5.2" / "config"
    cell = cell_result(
        "1.29.2",
        "shared",
        cli=CliInfo(str(machine / "opt" / "docker"), "28.5.2", str(config)),
        engine=EngineInfo("28.5.2", "1.51", "overlay2", name=f"unix://{machine}/d.sock"),
        logs={"install": f"{machine}/cache/venvs/compose-1.29.2/bin/python -m pip ..."},
    )
    named = redact_cell(cell)
    assert named.cli == CliInfo("<cli>", "28.5.2", "$CACHE_BISECT_HOME/tools/cli-28.5.2/config")
    assert named.engine.name and named.engine.name.startswith("unix://<socket-")
    assert named.engine.version == "28.5.2"
    assert redact_cell(named) is named

    store = ResultStore(machine / "results" / "cells")
    store.put("k1", named)
    written = (machine / "results" / "cells" / "k1.json").read_text()
    assert str(machine) not in written
    assert "$CACHE_BISECT_HOME/venvs/compose-1.29.2/bin/python" in written


def test_a_cell_stored_by_an_older_harness_is_read_without_its_machine_path(
    machine: Path,
) -> None:
    folder = machine / "results" / "cells"
    folder.mkdir(parents=True)
    old = cell_result("1.29.2", "shared", cli=CliInfo(str(machine / "bin" / "docker"), "28.2.2"))
    stored = {**old.to_json(), "store_key": "k2"}
    (folder / "k2.json").write_text(json.dumps(stored))
    found = ResultStore(folder).get("k2")
    assert found is not None and found.cli == CliInfo("docker", "28.2.2")


def test_a_shard_manifest_names_no_machine_path(machine: Path) -> None:
    spec = CellSpec(compose="1.29.2")
    failed = cell_result(
        "1.29.2", "error", reason=f"cannot open {machine}/cache/venvs/compose-1.29.2/bin/python"
    )
    path = write_manifest(machine / "results", Shard(1, 1), [spec], [spec], [failed], "m.toml")
    written = path.read_text()
    assert str(machine) not in written
    assert "cannot open $CACHE_BISECT_HOME/venvs/compose-1.29.2/bin/python" in written


def test_a_cli_typed_as_a_relative_path_is_found_from_the_cell_s_folder_too(
    machine: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The builds run in the cell's folder: ``--cli ./docker`` must not mean a file there."""
    (machine / "opt" / "docker").write_text("#!/bin/sh\necho 'Docker version 99.1.2, build x'\n")
    monkeypatch.chdir(machine / "opt")
    cli = find_cli("./docker")
    assert (cli.path, cli.version) == (str(machine / "opt" / "docker"), "99.1.2")
    assert cli_named(cli.path) == "<cli>"
