"""Which external images a scenario's Dockerfile needs (read from disk, no engine)."""

from __future__ import annotations

from pathlib import Path

from harness.app.images import needed_images
from harness.edges.fixtures import get_scenario, project_scenario


def test_a_project_needs_each_external_base_once_with_build_args_expanded(
    tmp_path: Path,
) -> None:
    (tmp_path / "Dockerfile").write_text(
        "ARG BASE=org/base:1\nFROM ${BASE} AS build\nRUN true\nFROM build AS test\n"
        "FROM org/runtime:2\nCOPY --from=build /x /x\nCOPY --from=org/tool:4 /t /t\nFROM ${BASE}\n"
    )
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n  web:\n    build:\n      context: .\n      args:\n        BASE: org/other:3\n"
    )
    scenario = project_scenario(tmp_path, "web")
    assert needed_images(scenario) == ("org/other:3", "org/runtime:2", "org/tool:4")


def test_a_fixture_on_the_offline_base_needs_no_image() -> None:
    assert needed_images(get_scenario("multistage")) == ()
