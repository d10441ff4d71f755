"""One reproduction cell: install a docker-compose release, build the scenario with it and
with the reference CLI on a fresh per-cell base, and judge from the engine's state: the image
chains when both builds are legacy, else each image's history (BuildKit leaves no image per
step).

Everything the cell creates in the engine carries the cell's label and is removed at the end;
the build context is a fresh copy that is removed too.
"""

from __future__ import annotations

import contextlib
import platform
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docker.errors

from harness import __version__
from harness.app.explain import Experiment, explain
from harness.core.buildkind import Builder, Builders
from harness.core.buildlog import builder_seen, parse_build_log
from harness.core.compat import KNOWN_BROKEN, InstallPlan, sdk_in_range
from harness.core.composefile import with_build_network
from harness.core.dockerfile import DockerfileError, external_stages, parse_dockerfile
from harness.core.failure import engine_setup_problem, failure_kind
from harness.core.flavour import compose_buildkit_problem
from harness.core.history import HistoryError, image_state, judge_history
from harness.core.judgeable import cannot_judge
from harness.core.model import CellResult, CellSpec, CliInfo, ExplainCause, Verdict
from harness.core.scenarios import Scenario
from harness.core.verdict import Judgement, StepMismatch, align, judge
from harness.edges.baseimage import BaseImageError, create_base
from harness.edges.builders import build_environment, cli_build, cli_shim, compose_build
from harness.edges.chains import (
    ChainError,
    ancestor,
    compose_image,
    image_id,
    remove_cell_artifacts,
    restore_tag,
    step_images,
)
from harness.edges.context import (
    BuildContext,
    ContextError,
    Owner,
    compose_file,
    context_has,
    materialize,
    observed_owner,
    observed_owners,
    owner_for,
    read_service_build,
    rewrite_in_copy,
)
from harness.edges.engine import Engine
from harness.edges.engineloss import ENGINE_ERRORS, watching
from harness.edges.imageconfig import image_config
from harness.edges.process import Completed
from harness.edges.recorder import RecordingProxy
from harness.edges.venvs import Environment, EnvironmentFactory, InstallFailure

_TAG_LOCKS: dict[str, threading.Lock] = {}
_TAG_LOCKS_GUARD = threading.Lock()


@contextmanager
def _holding(tag: str | None) -> Iterator[None]:
    """Builds that take over the same tag (a project's ``image:``) run one at a time: each
    cell gives the tag back to the user's image when it is done, and reads its own image by
    that tag while it builds."""
    if tag is None:
        yield
        return
    with _TAG_LOCKS_GUARD:
        lock = _TAG_LOCKS.setdefault(tag, threading.Lock())
    with lock:
        yield


@dataclass(frozen=True)
class Builds:
    """What the build phase observed; the result is made from it once."""

    judgement: Judgement
    logs: Mapping[str, str] = field(default_factory=dict)
    timings: Mapping[str, float] = field(default_factory=dict)
    owner: Owner | None = None
    owners: tuple[str, ...] | None = None
    failure: str | None = None  # how a build failed, when that is a behaviour of the versions
    base: Mapping[str, str] | None = None
    build_options: tuple[str, ...] | None = None
    notes: tuple[str, ...] = ()
    explain: tuple[Mapping[str, object], ...] | None = None
    explain_summary: tuple[str, ...] | None = None
    explain_cause: ExplainCause | None = None
    builders_used: Builders | None = None  # what the logs show, when not what was asked


def _builder_used(asked: Builder, log: str) -> Builder:
    """The builder a side used: the one it was told, or (default) the one its log shows."""
    if asked is not Builder.DEFAULT:
        return asked
    return Builder.BUILDKIT if builder_seen(log) == "buildkit" else Builder.LEGACY


def run_cell(
    spec: CellSpec,
    *,
    plan: InstallPlan,
    scenario: Scenario,
    engine: Engine,
    cli: CliInfo,
    environments: EnvironmentFactory,
    workdir: Path,
    log: Callable[[str], None] = print,
) -> CellResult:
    """Run the cell and return what it observed."""
    started = time.monotonic()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    common: dict[str, Any] = {
        "harness": __version__,
        "compose": spec.compose,
        "sdk_requested": spec.sdk,
        "engine": engine.info,
        "cli": cli,
        "scenario": scenario.name,
        "cli_build": spec.cli_build,
        "order": spec.sides,
        "uid": spec.uid,
        "gid": spec.gid,
        "started_at": started_at,
        "overrides": tuple(rule.as_json() for rule in plan.overrides),
        "cutoff": plan.cutoff.isoformat() if plan.cutoff else None,
        "builder": spec.builder,
        "compose_package": plan.package if plan.package != "docker-compose" else None,
        "cutoff_from": plan.cutoff_from or None,
    }
    known = [
        rule
        for rule in plan.broken
        if not rule.needs_file or context_has(scenario, rule.needs_file)
    ]
    if known:  # a combination known not to work: its reason is the answer, nothing is run
        return CellResult(
            **common,
            python=platform.python_version(),
            verdict=Verdict.UNINSTALLABLE,
            reason=f"{KNOWN_BROKEN}: " + "; ".join(rule.reason for rule in known),
            timings=_total(started),
        )
    log(f"installing docker-compose {spec.compose} (sdk {spec.sdk}) ...")
    installed = environments.ensure(plan)
    install_seconds = round(time.monotonic() - started, 3)
    if isinstance(installed, InstallFailure):
        return CellResult(
            **common,
            python=platform.python_version(),
            verdict=Verdict.UNINSTALLABLE,
            reason=installed.log_tail,
            logs={"install": installed.log},
            timings={"install": install_seconds, **_total(started)},
        )
    cell_id = uuid.uuid4().hex[:12]
    cell_dir = workdir / f"cell-{cell_id}"
    cell_dir.mkdir(parents=True)
    what = f"the cell of compose {spec.compose} ({cell_id})"
    try:
        with watching(engine.client, engine.host, what):
            builds = _build_and_judge(
                spec, scenario, engine, cli, installed, cell_id, cell_dir, log
            )
    except BaseException:
        # The first error wins: a cleanup that fails too (the engine gone) must not hide it.
        # An abandoned request may still land in the engine after we stop: keep sweeping.
        with contextlib.suppress(*ENGINE_ERRORS):
            remove_cell_artifacts(engine.client, cell_id, settle_seconds=5)
        raise
    finally:
        shutil.rmtree(cell_dir, ignore_errors=True)
    with watching(engine.client, engine.host, what):
        remove_cell_artifacts(engine.client, cell_id)
    judgement = builds.judgement
    logs = {"install": installed.install_log, **builds.logs}
    mismatch = (
        (f"{plan.package} {spec.compose} carries a docker-compose that says it is "
         f"v{installed.reports}",)
        if installed.reports and installed.reports != spec.compose
        else ()
    )  # fmt: skip
    return CellResult(
        **common,
        compose_reports=installed.reports,
        sdk=installed.sdk,
        python=installed.python,
        sdk_in_range=sdk_in_range(installed.compose_requires, installed.sdk, installed.python),
        freeze=tuple(installed.freeze),
        cell_id=cell_id,
        verdict=judgement.verdict,
        reason=judgement.reason,
        failure=builds.failure,
        notes=mismatch + builds.notes + judgement.notes,
        steps=judgement.steps,
        diverged_at=judgement.diverged_at.ref if judgement.diverged_at else None,
        final_image_reused=judgement.final_image_reused,
        logs=logs,
        timings={"install": install_seconds, **builds.timings, **_total(started)},
        owner=asdict(builds.owner) if builds.owner else None,
        owners=builds.owners,
        base=builds.base,
        build_options=builds.build_options,
        explain=builds.explain,
        explain_summary=builds.explain_summary,
        explain_cause=builds.explain_cause,
        builders_used=builds.builders_used,
        build_steps={
            name: [asdict(event) for event in parse_build_log(logs.get(name, ""))]
            for name in ("compose", "cli")
        },
    )


def _total(started: float) -> dict[str, float]:
    return {"total": round(time.monotonic() - started, 3)}


def _build_and_judge(
    spec: CellSpec,
    scenario: Scenario,
    engine: Engine,
    cli: CliInfo,
    installed: Environment,
    cell_id: str,
    workdir: Path,
    log: Callable[[str], None],
) -> Builds:
    source = (scenario.fixture_dir() / scenario.dockerfile).read_bytes().decode()
    service_build = read_service_build(scenario)
    try:
        users = parse_dockerfile(source)
        target_steps = users.steps(service_build.target)
        externals = {
            stage.index: users.base_of(stage, service_build.args)
            for stage in external_stages(users, service_build.args)
        }
    except DockerfileError as error:
        return Builds(Judgement(Verdict.ERROR, reason=f"Dockerfile: {error}"))
    original_from = next(iter(externals.values()), "scratch")
    try:
        bases = _derive_bases(engine, scenario.base, externals, cell_id)
    except (BaseImageError, docker.errors.DockerException) as error:
        return Builds(Judgement(Verdict.ERROR, reason=f"base image: {error}"))
    base = next(iter(bases.values()), None)
    try:
        context = materialize(
            scenario, workdir / "project", bases, owner_for(scenario, spec.uid, spec.gid)
        )
    except ContextError as error:
        return Builds(Judgement(Verdict.ERROR, reason=f"working copy: {error}"))
    ignored = context.build.ignored
    prepared = Builds(
        Judgement(Verdict.ERROR),  # replaced by what the builds show
        owner=observed_owner(context),
        owners=observed_owners(context),
        base={"from": original_from, "kind": scenario.base},
        build_options=tuple(context.build.cli_options()),
        notes=(f"build options not mirrored by docker build: {', '.join(ignored)}",)
        if ignored
        else (),
    )
    built_steps = parse_dockerfile(context.dockerfile.read_bytes().decode()).steps(
        context.build.target
    )
    instructions = [step for step in target_steps if step.stage is not None]
    stages = (
        {stage.index: stage.label for stage in users.stages}
        if len(users.stages) > 1 or users.stages[0].name
        else None
    )
    legacy = spec.builder.legacy
    problems = cannot_judge(
        source, target=context.build.target, build_args=context.build.args, legacy=legacy
    )
    if problems:
        reason = f"the Dockerfile {'; '.join(problems)}"
        return replace(prepared, judgement=Judgement(Verdict.ERROR, reason=reason))
    notes = list(prepared.notes)
    problem = compose_buildkit_problem(spec.compose, spec.cli_build)
    # default: compose 2.x, or 1.x's CLI build, may pick BuildKit, whose RUN needs network none
    maybe_buildkit = spec.builder.compose is Builder.DEFAULT and problem is None
    if spec.builder.compose is Builder.BUILDKIT or maybe_buildkit:
        if problem:
            return replace(prepared, judgement=Judgement(Verdict.ERROR, reason=problem))
        rewrite_in_copy(
            scenario.fixture_dir(),
            context.path,
            Path(compose_file(context.path).name),
            lambda text: with_build_network(text, scenario.service, "none"),
            workdir,
        )
        notes.append("compose file: build.network set to none (BuildKit RUN needs no network)")
    if spec.explain and not legacy:
        notes.append("explain is legacy-only: BuildKit sends the context over its own session")
    prepared = replace(prepared, notes=tuple(notes))
    shim = cli_shim(cli, workdir / "cli-shim")
    envs = {
        side: build_environment(
            engine.host, shim, spec.cli_build, spec.builder.of(side), cli.config
        )
        for side in ("compose", "cli")
    }
    project = f"cachebisect{cell_id}"
    with _holding(context.build.image):  # parallel cells of one project share its tag
        users_tag = image_id(engine.client, context.build.image) if context.build.image else None
        finals: dict[str, str] = {}
        used: dict[str, Builder] = {}
        chains: dict[str, list[str]] = {}
        logs: dict[str, str] = {}
        timings: dict[str, float] = {}

        def stopped(judgement: Judgement) -> Builds:
            return replace(prepared, judgement=judgement, logs=logs, timings=timings)

        try:
            for name in spec.sides:
                log(
                    f"building with {'docker-compose' if name == 'compose' else 'docker build'} ..."
                )
                completed = _run_build(
                    name, spec, scenario.service, context, cli, installed, envs[name], project,
                    cell_id, engine.host, workdir,
                )  # fmt: skip
                logs[name] = completed.output
                timings[f"build_{name}"] = round(completed.seconds, 3)
                if completed.timed_out:
                    reason = f"{name} build exceeded {spec.timeout:.0f}s"
                    return stopped(Judgement(Verdict.TIMEOUT, reason=reason))
                setup = None if completed.ok else engine_setup_problem(completed.output)
                if setup:  # the engine's set-up, not the versions: no failure kind, a skip
                    return stopped(Judgement(Verdict.ERROR, reason=f"{name} build failed: {setup}"))
                if not completed.ok:
                    failure = completed.error_lines(3)
                    judgement = Judgement(Verdict.ERROR, reason=f"{name} build failed: {failure}")
                    cell_text = {str(workdir): "<cell>", project: "<project>", cell_id: "<id>"}
                    kind = failure_kind(name, completed.error_lines(1), cell_text)
                    return replace(stopped(judgement), failure=kind)
                try:
                    finals[name] = (
                        f"cache-bisect/cli:{cell_id}"
                        if name == "cli"
                        else compose_image(
                            engine.client, project, scenario.service, cell_id, context.build.image
                        )
                    )
                    used[name] = _builder_used(spec.builder.of(name), completed.output)
                    if used[name] is Builder.LEGACY:
                        aligned = align(built_steps, parse_build_log(logs[name]))
                        chains[name] = step_images(engine.client, built_steps, aligned.images)
                        if (
                            ancestor(engine.client, finals[name], len(aligned.added))
                            != (chains[name][-1])
                        ):
                            raise ChainError(
                                "the image it tagged is not the last step's image in its log"
                            )
                        if aligned.added:
                            notes.append(
                                f"{name} build added {len(aligned.added)} step(s) of its own, "
                                f"not compared: {'; '.join(aligned.added)}"
                            )
                except (ChainError, StepMismatch, docker.errors.DockerException) as error:
                    reason = f"{name} image chain: {error}"
                    return stopped(Judgement(Verdict.ERROR, reason=reason))
        finally:
            if context.build.image:
                restore_tag(engine.client, context.build.image, users_tag)
    builders_used = Builders(used["compose"], used["cli"])
    legacy = builders_used.legacy
    prepared = replace(
        prepared,
        notes=tuple(notes),
        builders_used=builders_used if spec.builder != builders_used else None,
    )
    first, second = spec.sides
    first_events, second_events = parse_build_log(logs[first]), parse_build_log(logs[second])
    if not legacy:
        assert base is not None  # BuildKit without an external base was refused above
        try:
            base_state, first_state, second_state = (
                image_state(image_config(engine.client, name))
                for name in (base, finals[first], finals[second])
            )
        except (HistoryError, KeyError, docker.errors.DockerException) as error:
            return stopped(Judgement(Verdict.ERROR, reason=f"image history: {error}"))
        return stopped(
            judge_history(
                instructions, base_state, first_state, second_state, first_events, second_events
            )
        )
    judgement = judge(
        instructions, chains[first], chains[second], first_events, second_events, stages
    )
    if not (spec.explain and judgement.diverged_at is not None):
        return stopped(judgement)
    explain_started = time.monotonic()
    experiment = Experiment(
        engine=engine,
        cell_id=cell_id,
        first=first,
        steps=len(instructions),
        diverged=judgement.diverged_at,
        timeout=spec.timeout,
    )
    explanation = explain(
        workdir / "capture-compose",
        workdir / "capture-cli",
        judgement.diverged_at.instruction,
        experiment,
        log,
    )
    timings["explain"] = round(time.monotonic() - explain_started, 3)
    return replace(
        stopped(judgement),
        explain=explanation.entries,
        explain_summary=explanation.summary,
        explain_cause=explanation.cause,
    )


def _derive_bases(
    engine: Engine, kind: str, externals: Mapping[int, str], cell_id: str
) -> dict[int, str]:
    """A per-cell base for each external image a stage starts from (stage index -> tag): one
    base per distinct image; never one for a stage or ``scratch``. A fixture's bases are all
    the one offline busybox image."""
    tags: dict[str, str] = {}
    for image in externals.values():
        if image not in tags and (kind != "busybox" or not tags):
            tags[image] = create_base(engine.client, kind, image, cell_id, len(tags))
    return {
        index: tags.get(image) or next(iter(tags.values())) for index, image in externals.items()
    }


def _run_build(
    name: str,
    spec: CellSpec,
    service: str,
    context: BuildContext,
    cli: CliInfo,
    installed: Environment,
    env: dict[str, str],
    project: str,
    cell_id: str,
    engine_host: str,
    workdir: Path,
) -> Completed:
    """One build; with ``explain``, through a recording proxy that keeps what the client sent."""
    with ExitStack() as stack:
        if spec.explain and spec.builder.legacy:
            proxy = stack.enter_context(
                RecordingProxy(engine_host, workdir / f"{name}.sock", workdir / f"capture-{name}")
            )
            env = {**env, "DOCKER_HOST": proxy.host}
        if name == "cli":
            tag = f"cache-bisect/cli:{cell_id}"
            buildkit = spec.builder.cli is not Builder.LEGACY  # default may be BuildKit
            return cli_build(cli, context.path, tag, context.build, env, spec.timeout, buildkit)
        return compose_build(
            installed.compose_exe, context.path, project, service, env, spec.timeout
        )
