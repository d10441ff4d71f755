"""One reproduction cell: install a docker-compose release, build the scenario with it and
with the reference CLI on a fresh per-cell base, and judge from the engine's image chains.

Everything the cell creates in the engine carries the cell's label and is removed at the end;
the build context is a fresh copy that is removed too.
"""

from __future__ import annotations

import platform
import shutil
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docker.errors

from harness import __version__
from harness.baseimage import BaseImageError, create_base
from harness.builders import Cli, build_environment, cli_build, compose_build
from harness.buildlog import parse_build_log
from harness.chains import (
    ChainError,
    compose_image,
    image_chain,
    image_id,
    remove_cell_artifacts,
    restore_tag,
)
from harness.compat import InstallPlan, sdk_in_range
from harness.config import RunOptions
from harness.context import BuildContext, materialize, observed_owner, owner_for
from harness.dockerfile import from_image, parse_instructions
from harness.engine import Engine
from harness.envs import Environment, EnvironmentFactory, InstallFailure
from harness.explain import explain
from harness.process import Completed
from harness.recorder import RecordingProxy
from harness.scenarios import Scenario
from harness.verdict import Judgement, Verdict, judge

SCHEMA = 1


@dataclass(frozen=True)
class CellSpec:
    """The inputs a user chooses for one cell."""

    compose: str
    sdk: str = "auto"
    scenario: str = "seed"
    cli_build: str = "default"
    order: str = "compose-first"
    uid: int = 1000
    gid: int = 1000
    timeout: float = 600
    explain: bool = False  # capture both build contexts and diff them when the cache missed
    project: str | None = None  # a user's compose project folder instead of a scenario
    service: str | None = None  # the service to build in that project

    @classmethod
    def from_run(cls, run: RunOptions, **inputs: Any) -> CellSpec:
        """A cell with a matrix file's [run] options and the given inputs."""
        options = {
            "order": run.order,
            "uid": run.uid,
            "gid": run.gid,
            "timeout": run.timeout,
            "explain": run.explain,
        }
        return cls(**{**options, **inputs})

    @property
    def builders(self) -> tuple[str, str]:
        return ("compose", "cli") if self.order == "compose-first" else ("cli", "compose")


def run_cell(
    spec: CellSpec,
    *,
    plan: InstallPlan,
    scenario: Scenario,
    engine: Engine,
    cli: Cli,
    environments: EnvironmentFactory,
    workdir: Path,
    log: Callable[[str], None] = print,
) -> dict[str, object]:
    """Run the cell and return its result (the JSON object of the issue's schema)."""
    started = time.monotonic()
    result = _skeleton(spec, plan, scenario, engine, cli)
    log(f"installing docker-compose {spec.compose} (sdk {spec.sdk}) ...")
    installed = environments.ensure(plan)
    result["timings"]["install"] = round(time.monotonic() - started, 3)
    if isinstance(installed, InstallFailure):
        result.update(verdict=Verdict.UNINSTALLABLE.value, reason=installed.log_tail)
        result["logs"]["install"] = installed.log
        return _finish(result, started)
    _describe_environment(result, installed)
    cell_id = uuid.uuid4().hex[:12]
    result["cell_id"] = cell_id
    cell_dir = workdir / f"cell-{cell_id}"
    cell_dir.mkdir(parents=True)
    interrupted = True
    try:
        judgement = _build_and_judge(
            spec, scenario, engine, cli, installed, cell_id, cell_dir, result, log
        )
        interrupted = False
    finally:
        # An abandoned request may still land in the engine after we stop: keep sweeping.
        remove_cell_artifacts(engine.client, cell_id, settle_seconds=5 if interrupted else 0)
        shutil.rmtree(cell_dir, ignore_errors=True)
    _record_judgement(result, judgement)
    return _finish(result, started)


def _build_and_judge(
    spec: CellSpec,
    scenario: Scenario,
    engine: Engine,
    cli: Cli,
    installed: Environment,
    cell_id: str,
    workdir: Path,
    result: dict,
    log: Callable[[str], None],
) -> Judgement:
    original_from = from_image((scenario.fixture_dir() / scenario.dockerfile).read_text())
    try:
        base = create_base(engine.client, scenario.base, original_from, cell_id)
    except (BaseImageError, docker.errors.DockerException) as error:
        return Judgement(Verdict.ERROR, reason=f"base image: {error}")
    context = materialize(
        scenario, workdir / "project", base, owner_for(scenario, spec.uid, spec.gid)
    )
    result["owner"] = asdict(observed_owner(context))
    result["base"] = {"from": original_from, "kind": scenario.base}
    result["build_options"] = context.build.cli_options()
    if context.build.ignored:
        result["notes"].append(
            f"build options not mirrored by docker build: {', '.join(context.build.ignored)}"
        )
    instructions = parse_instructions(context.dockerfile.read_text())
    if sum(1 for i in instructions if i.keyword == "FROM") != 1:
        return Judgement(
            Verdict.ERROR,
            reason="multi-stage Dockerfiles are not supported: the verdict reads one image chain",
        )
    env = build_environment(engine.host, cli, spec.cli_build)
    project = f"cachebisect{cell_id}"
    users_tag = image_id(engine.client, context.build.image) if context.build.image else None
    chains: dict[str, list[str]] = {}
    logs: dict[str, str] = {}
    try:
        for name in spec.builders:
            log(f"building with {'docker-compose' if name == 'compose' else 'docker build'} ...")
            completed = _run_build(
                name,
                spec,
                scenario.service,
                context,
                cli,
                installed,
                env,
                project,
                cell_id,
                engine.host,
                workdir,
            )
            logs[name] = result["logs"][name] = completed.output
            result["timings"][f"build_{name}"] = round(completed.seconds, 3)
            if completed.timed_out:
                return Judgement(
                    Verdict.TIMEOUT, reason=f"{name} build exceeded {spec.timeout:.0f}s"
                )
            if not completed.ok:
                failure = completed.error_lines(3)
                return Judgement(Verdict.ERROR, reason=f"{name} build failed: {failure}")
            try:
                final = (
                    f"cache-bisect/cli:{cell_id}"
                    if name == "cli"
                    else compose_image(
                        engine.client, project, scenario.service, cell_id, context.build.image
                    )
                )
                chains[name] = image_chain(engine.client, final, len(instructions))
            except (ChainError, docker.errors.DockerException) as error:
                return Judgement(Verdict.ERROR, reason=f"{name} image chain: {error}")
    finally:
        if context.build.image:
            restore_tag(engine.client, context.build.image, users_tag)
    first, second = spec.builders
    judgement = judge(
        instructions,
        chains[first],
        chains[second],
        parse_build_log(logs[first]),
        parse_build_log(logs[second]),
    )
    if spec.explain and judgement.diverged_at is not None:
        result["explain"], result["explain_summary"] = explain(
            workdir / "capture-compose", workdir / "capture-cli", judgement.diverged_at.instruction
        )
    return judgement


def _run_build(
    name: str,
    spec: CellSpec,
    service: str,
    context: BuildContext,
    cli: Cli,
    installed: Environment,
    env: dict[str, str],
    project: str,
    cell_id: str,
    engine_host: str,
    workdir: Path,
) -> Completed:
    """One build; with ``explain``, through a recording proxy that keeps what the client sent."""
    with ExitStack() as stack:
        if spec.explain:
            proxy = stack.enter_context(
                RecordingProxy(engine_host, workdir / f"{name}.sock", workdir / f"capture-{name}")
            )
            env = {**env, "DOCKER_HOST": proxy.host}
        if name == "cli":
            tag = f"cache-bisect/cli:{cell_id}"
            return cli_build(cli, context.path, tag, context.build, env, spec.timeout)
        return compose_build(
            installed.compose_exe, context.path, project, service, env, spec.timeout
        )


def _skeleton(
    spec: CellSpec, plan: InstallPlan, scenario: Scenario, engine: Engine, cli: Cli
) -> dict:
    return {
        "schema": SCHEMA,
        "harness": __version__,
        "compose": spec.compose,
        "sdk": None,
        "sdk_requested": spec.sdk,
        "sdk_in_range": None,
        "python": platform.python_version(),
        "engine": engine.info.as_json(),
        "cli": cli.as_json(),
        "scenario": scenario.name,
        "cli_build": spec.cli_build,
        "order": list(spec.builders),
        "uid": spec.uid,
        "gid": spec.gid,
        "verdict": None,
        "diverged_at": None,
        "reason": None,
        "notes": [],
        "steps": [],
        "freeze": [],
        "overrides": [rule.as_json() for rule in plan.overrides],
        "cutoff": plan.cutoff.isoformat() if plan.cutoff else None,
        "logs": {},
        "timings": {},
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _describe_environment(result: dict, installed: Environment) -> None:
    result["sdk"] = installed.sdk
    result["python"] = installed.python
    result["sdk_in_range"] = sdk_in_range(
        installed.compose_requires, installed.sdk, installed.python
    )
    result["freeze"] = list(installed.freeze)
    result["logs"]["install"] = installed.install_log


def _record_judgement(result: dict, judgement: Judgement) -> None:
    result["verdict"] = judgement.verdict.value
    result["reason"] = judgement.reason
    result["notes"] = list(judgement.notes)
    result["steps"] = [step.as_json() for step in judgement.steps]
    result["build_steps"] = {
        name: [asdict(event) for event in parse_build_log(result["logs"].get(name, ""))]
        for name in ("compose", "cli")
    }
    if judgement.diverged_at is not None:
        result["diverged_at"] = {
            "step": judgement.diverged_at.step,
            "instruction": judgement.diverged_at.instruction,
        }


def _finish(result: dict, started: float) -> dict:
    result["timings"]["total"] = round(time.monotonic() - started, 3)
    return result
