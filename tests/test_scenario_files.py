"""A scenario naming a file its fixture lacks (or an entry to make where one already is) is one
line naming the scenario and the path, when the scenarios are read: before any engine starts.
So are a project's special file where its Dockerfile should be, and an interrupt meanwhile."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.__main__ import main
from harness.core.scenarios import ScenarioError
from harness.edges.fixtures import get_scenario, load_scenarios, project_scenario

HEAD = """[special]
description = "d"
varies = "v"
fixture = "special"
dockerfile = "Dockerfile"
service = "test"
base = "busybox"
owner = "root"
"""


def _fixtures(root: Path, extra: str) -> Path:
    folder = root / "fixtures" / "special"
    (folder / "sub").mkdir(parents=True)
    (folder / "Dockerfile").write_text("FROM busybox\nCOPY . /app\n")
    (folder / "docker-compose.yml").write_text("services:\n  test:\n    build: .\n")
    (folder / "blah.txt").write_text("blah\n")
    (root / "fixtures" / "scenarios.toml").write_text(HEAD + extra)
    return root / "fixtures"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('fifos = ["nothere/pipe"]', "fifos: 'nothere/pipe' lies in no folder of fixtures/special"),
        ('sockets = ["gone/sock"]', "sockets: 'gone/sock' lies in no folder of fixtures/special"),
        ('fifos = ["blah.txt"]', "fifos: 'blah.txt' already exists in fixtures/special"),
        ('sockets = ["sub"]', "sockets: 'sub' already exists in fixtures/special"),
        (
            'capabilities = ["ping"]',
            "capabilities: 'ping' is not a file in fixtures/special",
        ),
        (
            'hard_links = { "twin" = "missing.txt" }',
            "hard_links: 'missing.txt' is not a file in fixtures/special",
        ),
        (
            'hard_links = { "blah.txt" = "Dockerfile" }',
            "hard_links: 'blah.txt' already exists in fixtures/special",
        ),
        ('executable = ["run.sh"]', "executable: 'run.sh' is not a file in fixtures/special"),
        ('executable = ["sub"]', "executable: 'sub' is not a file in fixtures/special"),
    ],
)
def test_a_missing_or_taken_path_is_one_line(tmp_path: Path, extra: str, message: str) -> None:
    root = _fixtures(tmp_path, extra + "\n")
    with pytest.raises(ScenarioError) as raised:
        get_scenario("special", root)
    assert str(raised.value) == f"scenario 'special': {message}"


def test_a_missing_fixture_dockerfile_or_compose_file_is_one_line(tmp_path: Path) -> None:
    root = _fixtures(tmp_path, "")
    (root / "special" / "Dockerfile").unlink()
    with pytest.raises(ScenarioError, match=r"^scenario 'special': dockerfile: 'Dockerfile' is"):
        load_scenarios(root)
    (root / "special" / "docker-compose.yml").unlink()
    with pytest.raises(ScenarioError, match=r"^scenario 'special': no docker-compose.yml or "):
        load_scenarios(root)
    (root / "scenarios.toml").write_text(HEAD.replace('"special"', '"elsewhere"', 1))
    with pytest.raises(ScenarioError, match=r"^scenario 'special': fixture fixtures/elsewhere is"):
        load_scenarios(root)


def test_entries_to_make_beside_the_fixture_s_files_are_accepted(tmp_path: Path) -> None:
    extra = (
        'fifos = ["sub/pipe"]\nsockets = ["sock"]\nhard_links = { "a/twin" = "blah.txt" }\n'
        'capabilities = ["a/twin"]\nexecutable = ["blah.txt"]\n'
    )
    scenario = get_scenario("special", _fixtures(tmp_path, extra))
    assert (scenario.fifos, scenario.sockets) == (("sub/pipe",), ("sock",))
    assert scenario.hard_links == (("a/twin", "blah.txt"),)


def test_a_run_keeps_the_scenarios_it_began_with_when_the_file_is_edited(tmp_path: Path) -> None:
    """A matrix reads a scenario per cell: an edit, or a half-saved file, while it runs must
    neither stop it ("unknown scenario") nor change what its later cells build."""
    root = _fixtures(tmp_path, "")
    before = get_scenario("special", root)
    (root / "scenarios.toml").write_text("")  # an editor caught mid-save
    assert get_scenario("special", root) == before
    assert set(load_scenarios(root)) == {"special"}


def test_the_harness_s_own_scenarios_name_only_what_their_fixtures_have() -> None:
    scenarios = load_scenarios()
    assert {"hard-links", "capability", "special-files"} <= set(scenarios)


def test_a_project_dockerfile_that_is_a_fifo_is_one_line_not_a_hang(tmp_path: Path) -> None:
    """Reading a fifo waits for a writer that never comes: the check must not open it."""
    (tmp_path / "docker-compose.yml").write_text("services:\n  web:\n    build: .\n")
    os.mkfifo(tmp_path / "Dockerfile")
    with pytest.raises(ScenarioError) as raised:
        project_scenario(tmp_path, "web")
    assert str(raised.value) == (
        f"--project {tmp_path}: service 'web' builds Dockerfile, which is not a regular file "
        "(a fifo, socket or device)"
    )


def test_an_interrupt_before_the_work_begins_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(argv: list[str]) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr("harness.cli.repro.main", interrupted)
    assert main(["repro", "--compose", "1.29.2"]) == 130
    assert capsys.readouterr().err == "error: interrupted before any build: nothing was started\n"
