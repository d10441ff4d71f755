"""The matrix report's reproduce line names a user's project and service, and a results
folder other than the default: without them the line would rebuild the fixtures, not the
project the tables are about, or overwrite the default's tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli.matrix import write_tables
from harness.core.config import parse_config
from tests.factories import cell_result

CONFIG = parse_config('[matrix]\ncompose = ["1.20.0"]\n')


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout to run in: its default results folder and a project's."""
    monkeypatch.chdir(tmp_path)
    for folder in ("results", "results/projects/app", "results/scenarios-v2"):
        (tmp_path / folder).mkdir(parents=True)
    return tmp_path


def reproduce(results: Path, *args: object) -> str:
    write_tables(results, [cell_result("1.20.0", "shared")], *args)  # type: ignore[arg-type]
    return str(json.loads((results / "matrix.json").read_text())["reproduce"])


def test_the_reproduce_line_names_the_project_and_service(checkout: Path) -> None:
    line = reproduce(Path("results/projects/app"), CONFIG, None, ("app", "web"))
    assert line == "nox -s matrix -- --project app --service web"
    assert reproduce(Path("results"), CONFIG) == "nox -s matrix"


def test_the_reproduce_line_names_a_results_folder_other_than_the_default(checkout: Path) -> None:
    line = reproduce(Path("results/scenarios-v2"), CONFIG)
    assert line == "nox -s matrix -- --results results/scenarios-v2"
    line = reproduce(Path("results"), CONFIG, None, ("app", "web"))
    assert line == "nox -s matrix -- --project app --service web --results results"
    line = reproduce(checkout / "results" / "scenarios-v2", CONFIG)  # typed as an absolute path
    assert line == "nox -s matrix -- --results results/scenarios-v2"
    assert reproduce(checkout / "results", CONFIG) == "nox -s matrix"


def test_a_results_folder_elsewhere_is_published_by_its_name(
    checkout: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "v2-tables"
    elsewhere.mkdir()
    assert reproduce(elsewhere, CONFIG) == "nox -s matrix -- --results v2-tables"


def test_a_matrix_file_typed_as_an_absolute_path_is_published_by_its_name(checkout: Path) -> None:
    config = parse_config('[matrix]\ncompose = ["1.20.0"]\n', "/home/someone/work/m.toml")
    write_tables(
        Path("results/projects/app"),
        [cell_result("1.20.0", "shared")],
        config,
        None,
        ("app", "web"),
    )
    document = json.loads(Path("results/projects/app/matrix.json").read_text())
    assert document["config"] == "m.toml"
    assert document["reproduce"] == "nox -s matrix -- --config m.toml --project app --service web"
