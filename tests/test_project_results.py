"""A user's project has results of its own, named by its folder (issue 25): its runs never
replace the harness's published results, and nothing published says where it lies."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.app.bisect import COMPOSE, BisectRequest, run_bisect
from harness.cli import bisect, matrix
from harness.cli.options import project_named, results_of
from harness.core.model import CellSpec
from tests.factories import VERSIONS, ScriptedCells

PROJECT = "/srv/checkouts/team/shop-api"


@pytest.mark.parametrize(
    ("command", "args"),
    [(matrix, []), (bisect, ["1.20", "1.22"])],
    ids=["matrix", "bisect"],
)
def test_a_projects_results_go_to_a_folder_of_their_own(command: object, args: list[str]) -> None:
    parser = command.parser()  # type: ignore[attr-defined]
    project = ["--project", PROJECT, "--service", "web"]
    assert results_of(parser.parse_args(args)) == Path("results")
    assert results_of(parser.parse_args([*args, *project])) == Path("results/projects/shop-api")
    named = parser.parse_args([*args, *project, "--results", "mine"])
    assert results_of(named) == Path("mine")


def test_the_bisect_reproduce_lines_name_the_project_by_its_folder() -> None:
    cells = ScriptedCells(lambda compose, sdk, run: "shared" if compose >= "1.21.1" else "diverged")
    spec = CellSpec(compose="", scenario="project", project=PROJECT, service="web")
    report = run_bisect(BisectRequest(COMPOSE, "1.20", "1.22", spec), VERSIONS, cells, log=str)
    assert report.reproduce == "nox -s repro -- --compose 1.21.1 --project shop-api --service web"
    assert report.reproduce_old == (
        "nox -s repro -- --compose 1.21.0 --project shop-api --service web"
    )


def test_the_matrix_reproduce_line_names_the_project_by_its_folder() -> None:
    args = matrix.parser().parse_args(["--project", f"{PROJECT}/", "--service", "web"])
    assert project_named(args) == ("shop-api", "web")
    assert project_named(matrix.parser().parse_args([])) is None
