"""The copy's compose file gets every change a cell needs in one rewrite, even when it is a
link out of the project (each rewrite of such a file starts again from the user's text)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, cast

import yaml

from harness.app.cell import CellBuild
from harness.core.buildkind import Builders
from harness.core.model import CellSpec
from harness.edges.context import compose_file, materialize
from harness.edges.fixtures import project_scenario
from tests.snapshots import tree_snapshot

COMPOSE = """services:
  web:
    build:
      context: .
      cache_from:
        - example/never-built:missing
"""


def test_a_compose_file_linked_out_of_the_project_keeps_both_changes(tmp_path: Path) -> None:
    user = tmp_path / "user"
    project, outside = user / "proj", user / "elsewhere"
    project.mkdir(parents=True)
    outside.mkdir()
    (project / "Dockerfile").write_text("FROM busybox:1\nCOPY . /app\n")
    (outside / "compose.yml").write_text(COMPOSE)
    (project / "docker-compose.yml").symlink_to(outside / "compose.yml")
    before = tree_snapshot(user)
    scenario = project_scenario(project, "web")
    work = tmp_path / "work"
    context = materialize(scenario, work / "project", "cache-bisect/base:x", None)
    spec = CellSpec(
        compose="2.40.3",
        project=str(project),
        service="web",
        builder=Builders.parse("buildkit"),
        drop_keys=("cache_from",),
    )
    unused = cast(Any, None)  # the compose file's rewrite needs no engine, CLI or venv
    build = CellBuild(spec, scenario, unused, unused, unused, "c0ffee", work, print)
    build._adjust_compose_file(context)

    assert tree_snapshot(user) == before
    assert (outside / "compose.yml").read_text() == COMPOSE
    written = Path(os.path.realpath(compose_file(context.path)))
    assert written.is_relative_to(os.path.realpath(work)) and written != outside / "compose.yml"
    service = yaml.safe_load(written.read_text())["services"]["web"]["build"]
    assert service == {"context": ".", "network": "none"}
    assert build.notes == [
        "compose file: build.network set to none (BuildKit RUN needs no network)",
        "compose file: build.cache_from removed",
    ]
