"""One reproduction cell: install a docker-compose release, build the scenario with it and
with the reference CLI on a fresh per-cell base, and judge from the engine's state: the image
chains when both builds are legacy, else each image's history (BuildKit leaves no image per
step).

Everything the cell creates in the engine carries the cell's label and is removed at the end;
the build context is a fresh copy that is removed too.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import docker.errors

from harness import __version__
from harness.app.explain import Experiment, Explanation, explain
from harness.core.buildkind import Builder, Builders
from harness.core.buildlog import StepEvent, builder_seen, parse_build_log, parse_vertices
from harness.core.compat import KNOWN_BROKEN, Broken, InstallPlan, sdk_in_range
from harness.core.composefile import (
    ComposeFileError,
    image_override,
    with_build_network,
    without_build_keys,
)
from harness.core.dockerfile import (
    Dockerfile,
    DockerfileError,
    Instruction,
    copied_images,
    external_stages,
    parse_dockerfile,
    rewrite_copy_from,
    scratch_stages,
    with_chown,
)
from harness.core.failure import FIFO_HANG, engine_setup_problem, failure_kind
from harness.core.finalimage import corroborate
from harness.core.flavour import compose_buildkit_problem
from harness.core.history import HistoryError, image_state, judge_history
from harness.core.model import (
    AppliedOverride,
    BaseImage,
    CellResult,
    CellSpec,
    CliInfo,
    ExplainCause,
    ExplainedDifference,
    Owner,
    StepComparison,
    Verdict,
)
from harness.core.places import CELL, without_folders, without_project
from harness.core.reported import Triggers, judge_reported, vertex_events
from harness.core.scenarios import Scenario
from harness.core.verdict import Judgement, StepMismatch, align, judge
from harness.edges.baseimage import BaseImageError, create_base, create_scratch_base
from harness.edges.builders import build_environment, cli_build, cli_shim, compose_build
from harness.edges.chains import (
    ChainError,
    ancestor,
    compose_image,
    remove_cell_artifacts,
    step_images,
)
from harness.edges.context import (
    BuildContext,
    ContextError,
    compose_file,
    compose_files,
    context_has,
    materialize,
    observed_owner,
    observed_owners,
    owner_for,
    read_service_build,
    rewrite_dockerfile,
    rewrite_in_copy,
)
from harness.edges.engine import Engine
from harness.edges.engineloss import ENGINE_ERRORS, watching
from harness.edges.imageconfig import image_config
from harness.edges.process import Completed
from harness.edges.recorder import RecordingProxy
from harness.edges.runs import workdir_prefix
from harness.edges.venvs import Environment, EnvironmentFactory, InstallFailure
from harness.present.words import conflict_note


@dataclass(frozen=True)
class Builds:
    """What the build phase observed; the result is made from it once."""

    judgement: Judgement
    logs: Mapping[str, str] = field(default_factory=dict)
    timings: Mapping[str, float] = field(default_factory=dict)
    owner: Owner | None = None
    owners: tuple[str, ...] | None = None
    failure: str | None = None  # how a build failed, when that is a behaviour of the versions
    base: BaseImage | None = None
    build_options: tuple[str, ...] | None = None
    notes: tuple[str, ...] = ()
    explain: tuple[ExplainedDifference, ...] | None = None
    explain_summary: tuple[str, ...] | None = None
    explain_cause: ExplainCause | None = None
    builders_used: Builders | None = None  # what the logs show, when not what was asked


def _builder_used(asked: Builder, log: str) -> Builder:
    """The builder a side used: the one it was told, or (default) the one its log shows."""
    if asked is not Builder.DEFAULT:
        return asked
    return Builder.BUILDKIT if builder_seen(log) == "buildkit" else Builder.LEGACY


class _Stop(Exception):
    """The cell's build ends early; ``judgement`` says why (mapped to a result in ``run``)."""

    def __init__(self, judgement: Judgement, failure: str | None = None) -> None:
        super().__init__(judgement.reason)
        self.judgement = judgement
        self.failure = failure


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
    asked = _asked(spec, plan, scenario, engine, cli)
    known = [
        rule
        for rule in plan.broken
        if not rule.needs_file or context_has(scenario, rule.needs_file)
    ]
    # A rule never answers for the engine: the combination is built, and the rule is a note
    # beside what the run showed.
    rule_notes = tuple(
        f"{KNOWN_BROKEN} (a compat rule, not this run): {rule.reason}" for rule in known
    )
    log(f"installing docker-compose {spec.compose} (sdk {spec.sdk}) ...")
    installed = environments.ensure(plan)
    install_seconds = round(time.monotonic() - started, 3)
    if isinstance(installed, InstallFailure):
        return replace(
            asked,
            reason=installed.log_tail,
            notes=rule_notes,
            logs={"install": installed.log},
            timings={"install": install_seconds, **_total(started)},
        )
    cell_id = uuid.uuid4().hex[:12]
    cell_dir = workdir / f"cell-{cell_id}"
    cell_dir.mkdir(parents=True)
    what = f"the cell of compose {spec.compose} ({cell_id})"
    try:
        with watching(engine.client, engine.host, what):
            builds = CellBuild(spec, scenario, engine, cli, installed, cell_id, cell_dir, log).run()
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

    def hide(text: str) -> str:  # stored and published: no folder of this machine
        text = without_folders(text, str(cell_dir), tempfile.gettempdir())
        if not spec.project:
            return text
        folder = Path(spec.project)
        return without_project(text, (str(folder), os.path.realpath(folder)), folder.name)

    logs = {"install": installed.install_log, **{k: hide(v) for k, v in builds.logs.items()}}
    mismatch = (
        (f"{plan.package} {spec.compose} carries a docker-compose that says it is "
         f"v{installed.reports}",)
        if installed.reports and installed.reports != spec.compose
        else ()
    )  # fmt: skip
    return replace(
        asked,
        compose_reports=installed.reports,
        sdk=installed.sdk,
        python=installed.python,
        sdk_in_range=sdk_in_range(installed.compose_requires, installed.sdk, installed.python),
        freeze=tuple(installed.freeze),
        cell_id=cell_id,
        verdict=judgement.verdict,
        reason=hide(judgement.reason) if judgement.reason else None,
        failure=hide(builds.failure) if builds.failure else None,
        notes=mismatch
        + rule_notes
        + _contradicted(known, judgement.verdict)
        + tuple(hide(note) for note in builds.notes + judgement.notes),
        steps=judgement.steps,
        diverged_at=judgement.diverged_at.ref if judgement.diverged_at else None,
        final_image_reused=judgement.final_image_reused,
        conflict=judgement.conflict,
        logs=logs,
        timings={"install": install_seconds, **builds.timings, **_total(started)},
        owner=builds.owner,
        owners=builds.owners,
        base=builds.base,
        build_options=builds.build_options,
        explain=builds.explain,
        explain_summary=builds.explain_summary,
        explain_cause=builds.explain_cause,
        builders_used=builds.builders_used,
        build_steps={
            name: tuple(parse_build_log(logs.get(name, ""))) for name in ("compose", "cli")
        },
    )


def _asked(
    spec: CellSpec, plan: InstallPlan, scenario: Scenario, engine: Engine, cli: CliInfo
) -> CellResult:
    """What every result records, whatever happens next (uninstallable until installed)."""
    return CellResult(
        harness=__version__,
        compose=spec.compose,
        sdk_requested=spec.sdk,
        python=platform.python_version(),
        engine=engine.info,
        cli=cli,
        scenario=scenario.name,
        cli_build=spec.cli_build,
        order=spec.sides,
        uid=spec.uid,
        gid=spec.gid,
        verdict=Verdict.UNINSTALLABLE,
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        overrides=tuple(
            AppliedOverride(rule.package, rule.requirement, rule.reason) for rule in plan.overrides
        ),
        cutoff=plan.cutoff.isoformat() if plan.cutoff else None,
        builder=spec.builder,
        compose_package=plan.package if plan.package != "docker-compose" else None,
        cutoff_from=plan.cutoff_from or None,
    )


def _contradicted(known: list[Broken], verdict: Verdict) -> tuple[str, ...]:
    """A rule that says "known not to work" where both builds ran: the run wins, said once."""
    if known and verdict in (Verdict.SHARED, Verdict.DIVERGED):
        return ("both builds ran: the compat rule above does not hold for this run",)
    return ()


def _total(started: float) -> dict[str, float]:
    return {"total": round(time.monotonic() - started, 3)}


@dataclass(frozen=True)
class _Prepared:
    """What the builds start from: the per-cell base of the first stage (an external image's
    or scratch's stand-in), the working copy, the target's steps as the user's Dockerfile has
    them and as the built copy has them, and the stages' labels (None: one unnamed stage)."""

    base: str
    bases: dict[int, str]  # stage index -> the cell's base it starts from (images, scratch)
    context: BuildContext
    instructions: list[Instruction]
    built_steps: tuple[Instruction, ...]
    stages: dict[int, str] | None
    dockerfile: Dockerfile
    target: str | None

    @property
    def stages_built(self) -> int:
        """How many stages the legacy builder runs (BuildKit may run fewer)."""
        return len(self.dockerfile.built_stages(self.target))


@dataclass
class CellBuild:
    """The two builds of one cell and their judgement: the inputs every phase needs, and what
    the phases observed so far (an early stop reports exactly that much)."""

    spec: CellSpec
    scenario: Scenario
    engine: Engine
    cli: CliInfo
    installed: Environment
    cell_id: str
    workdir: Path
    log: Callable[[str], None]
    seen: Builds = field(default_factory=lambda: Builds(Judgement(Verdict.ERROR)))
    notes: list[str] = field(default_factory=list)
    logs: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def project(self) -> str:
        return f"cachebisect{self.cell_id}"

    @property
    def cli_tag(self) -> str:
        return f"cache-bisect/cli:{self.cell_id}"

    @property
    def compose_tag(self) -> str:
        """The service's image name in this cell: the user's ``image:`` tag is never taken."""
        return f"cache-bisect/compose:{self.cell_id}"

    def run(self) -> Builds:
        """Build both sides and judge; every early stop becomes a result here, once."""
        try:
            return self._observed(*self._judged())
        except _Stop as stop:
            return replace(self._observed(stop.judgement), failure=stop.failure)

    def _observed(self, judgement: Judgement, explanation: Explanation | None = None) -> Builds:
        return replace(
            self.seen,
            judgement=judgement,
            logs=self.logs,
            timings=self.timings,
            notes=tuple(self.notes),
            explain=explanation.entries if explanation else None,
            explain_summary=explanation.summary if explanation else None,
            explain_cause=explanation.cause if explanation else None,
        )

    def _judged(self) -> tuple[Judgement, Explanation | None]:
        prepared = self._prepare()
        instructions = prepared.instructions
        finals, chains, used = self._build_both(prepared)
        first, second = self.spec.sides
        events = parse_build_log(self.logs[first]), parse_build_log(self.logs[second])
        if not used.legacy and prepared.stages_built > 1:  # no image per step of any stage
            return self._reported(prepared, used, (finals[first], finals[second])), None
        if not used.legacy:  # a side used BuildKit: no image per step, judge the histories
            try:
                base_state, first_state, second_state = (
                    image_state(image_config(self.engine.client, name))
                    for name in (prepared.base, finals[first], finals[second])
                )
            except (HistoryError, KeyError, docker.errors.DockerException) as error:
                raise _Stop(Judgement(Verdict.ERROR, reason=f"image history: {error}")) from None
            return judge_history(instructions, base_state, first_state, second_state, *events), None
        judgement = judge(instructions, chains[first], chains[second], *events, prepared.stages)
        if not (self.spec.explain and judgement.diverged_at is not None):
            return judgement, None
        return judgement, self._explain(judgement.diverged_at, len(instructions))

    def _reported(self, prepared: _Prepared, used: Builders, finals: tuple[str, str]) -> Judgement:
        """A multi-stage build BuildKit ran on a side: each side's own step report, its word
        on the final image checked against the two final images (a disagreement is said)."""
        triggers = self._triggers(prepared.bases)
        events: list[list[StepEvent]] = []
        for side in self.spec.sides:
            log = self.logs[side]
            if used.of(side) is Builder.LEGACY:
                events.append(parse_build_log(log))
            else:
                vertices = parse_vertices(log)
                found = vertex_events(vertices, prepared.dockerfile, prepared.target, triggers)
                events.append(found)
        first, second = events
        judged = judge_reported(
            prepared.dockerfile, prepared.target, first, second, prepared.stages, triggers
        )
        if judged.verdict not in (Verdict.SHARED, Verdict.DIVERGED):
            return judged
        try:
            first_image, second_image = (
                image_state(image_config(self.engine.client, name)) for name in finals
            )
        except (HistoryError, KeyError, docker.errors.DockerException) as error:
            raise _Stop(Judgement(Verdict.ERROR, reason=f"final images: {error}")) from None
        checked = corroborate(judged, first_image, second_image)
        if checked.conflict is not None:
            self.notes.append(conflict_note(checked.conflict))
        return checked

    def _triggers(self, bases: Mapping[int, str]) -> dict[int, Triggers]:
        """The ONBUILD triggers of each stage's base, as the engine reports them (a stage
        whose base has none is left out)."""
        armed: dict[str, tuple[str, ...]] = {}
        for tag in set(bases.values()):
            try:
                config = self.engine.client.api.inspect_image(tag).get("Config") or {}
            except docker.errors.DockerException as error:
                raise _Stop(Judgement(Verdict.ERROR, reason=f"base image: {error}")) from None
            armed[tag] = tuple(str(trigger) for trigger in config.get("OnBuild") or ())
        return {index: Triggers(tag, armed[tag]) for index, tag in bases.items() if armed[tag]}

    def _prepare(self) -> _Prepared:
        """The cell's base images and working copy, checked before anything is built."""
        spec, scenario = self.spec, self.scenario
        source = (scenario.fixture_dir() / scenario.dockerfile).read_bytes().decode()
        service_build = read_service_build(scenario)
        try:
            users = parse_dockerfile(source)
            target_steps = users.steps(service_build.target)
            externals = {
                stage.index: users.base_of(stage, service_build.args)
                for stage in external_stages(users, service_build.args)
            }
            scratch = [stage.index for stage in scratch_stages(users, service_build.args)]
            copied = copied_images(users, service_build.target)
            original_from = users.base_of(users.stages[0], service_build.args)
        except DockerfileError as error:
            raise _Stop(Judgement(Verdict.ERROR, reason=f"Dockerfile: {error}")) from None
        try:
            tags = _derive_bases(
                self.engine, scenario, [*externals.values(), *copied], self.cell_id
            )
            bases = {index: tags[image] for index, image in externals.items()}
            if scratch:  # no image: the cell's own stand-in, labelled, with a layer of its own
                stand_in = create_scratch_base(self.engine.client, self.cell_id)
                bases.update(dict.fromkeys(scratch, stand_in))
        except (BaseImageError, docker.errors.DockerException) as error:
            raise _Stop(Judgement(Verdict.ERROR, reason=f"base image: {error}")) from None
        chown = spec.chown
        try:
            context = materialize(
                scenario, self.workdir / "project", bases, owner_for(scenario, spec.uid, spec.gid)
            )
            if copied:  # COPY --from=<image> reads this cell's copy of the image
                copies = {index: tags[index] for index in copied}
                rewrite_dockerfile(context, lambda text: rewrite_copy_from(text, copies))
            if chown is not None:  # a remedy's trial: both builders read the changed Dockerfile
                rewrite_dockerfile(context, lambda text: with_chown(text, chown))
        except ContextError as error:
            raise _Stop(Judgement(Verdict.ERROR, reason=f"working copy: {error}")) from None
        ignored = context.build.ignored
        self.seen = replace(
            self.seen,
            owner=observed_owner(context),
            owners=observed_owners(context),
            base=BaseImage(original_from, scenario.base),
            build_options=(*context.build.cli_options(), *spec.cli_flags),
        )
        if ignored:
            self.notes.append(f"build options not mirrored by docker build: {', '.join(ignored)}")
        built_steps = parse_dockerfile(context.dockerfile.read_bytes().decode()).steps(
            context.build.target
        )
        stages = (
            {stage.index: stage.label for stage in users.stages}
            if len(users.stages) > 1 or users.stages[0].name
            else None
        )
        self._adjust_compose_file(context)
        return _Prepared(
            base=bases[0],  # the first stage starts from an image or scratch, never a stage
            bases=bases,
            context=context,
            instructions=[step for step in target_steps if step.stage is not None],
            built_steps=built_steps,
            stages=stages,
            dockerfile=users,
            target=context.build.target,
        )

    def _adjust_compose_file(self, context: BuildContext) -> None:
        """The copy's compose file as the cell's builders need it (network none for BuildKit
        RUN steps, a remedy's dropped build keys), each change said in a note. Every change
        is made in one rewrite: a compose file linked out of the project gets a fresh file
        from the user's text each time, so a second rewrite would lose the first change."""
        spec, scenario = self.spec, self.scenario
        changes: list[Callable[[str], str]] = []
        problem = compose_buildkit_problem(spec.compose, spec.cli_build)
        # default: compose 2.x, or 1.x's CLI build, may pick BuildKit, whose RUN needs network none
        maybe_buildkit = spec.builder.compose is Builder.DEFAULT and problem is None
        if spec.builder.compose is Builder.BUILDKIT or maybe_buildkit:
            if problem:
                raise _Stop(Judgement(Verdict.ERROR, reason=problem))
            changes.append(lambda text: with_build_network(text, scenario.service, "none"))
            self.notes.append(
                "compose file: build.network set to none (BuildKit RUN needs no network)"
            )
        if spec.drop_keys:  # a remedy's trial: compose no longer sends what these asked for
            changes.append(lambda text: without_build_keys(text, scenario.service, spec.drop_keys))
            self.notes.append(f"compose file: build.{', build.'.join(spec.drop_keys)} removed")
        if changes:

            def changed(text: str) -> str:
                for change in changes:
                    text = change(text)
                return text

            self._rewrite_compose_file(context, changed)
        if spec.explain and not spec.builder.legacy:
            self.notes.append(
                "explain is legacy-only: BuildKit sends the context over its own session"
            )

    def _rewrite_compose_file(self, context: BuildContext, change: Callable[[str], str]) -> None:
        """Change the copy's compose file (never the user's); a change that cannot be made
        stops the cell with its words."""
        try:
            rewrite_in_copy(
                self.scenario.fixture_dir(),
                context.path,
                Path(compose_file(context.path).name),
                change,
                self.workdir,
            )
        except ComposeFileError as error:
            raise _Stop(Judgement(Verdict.ERROR, reason=f"compose file: {error}")) from None

    def _build_both(
        self, prepared: _Prepared
    ) -> tuple[dict[str, str], dict[str, list[str]], Builders]:
        """Each side's final image, the builders the sides used and, for a side that used the
        legacy builder, its chain of step images."""
        shim = cli_shim(self.cli, self.workdir / "cli-shim")
        envs = {
            side: build_environment(
                self.engine.host, shim, self.spec.cli_build, self.spec.builder.of(side),
                self.cli.config,
            )
            for side in ("compose", "cli")
        }  # fmt: skip
        finals: dict[str, str] = {}
        chains: dict[str, list[str]] = {}
        used: dict[str, Builder] = {}
        context = prepared.context
        for name in self.spec.sides:
            self._build(name, context, envs[name])
            try:
                finals[name] = (
                    self.cli_tag
                    if name == "cli"
                    else compose_image(self.engine.client, self.compose_tag, self.cell_id)
                )
                used[name] = _builder_used(self.spec.builder.of(name), self.logs[name])
                if used[name] is Builder.LEGACY:
                    chains[name] = self._step_images(name, finals[name], prepared)
            except (ChainError, StepMismatch, docker.errors.DockerException) as error:
                reason = f"{name} image chain: {error}"
                raise _Stop(Judgement(Verdict.ERROR, reason=reason)) from None
        builders = Builders(used["compose"], used["cli"])
        self.seen = replace(
            self.seen, builders_used=builders if self.spec.builder != builders else None
        )
        return finals, chains, builders

    def _step_images(self, name: str, final: str, prepared: _Prepared) -> list[str]:
        """Each step's image from the side's own log, checked against the engine's records."""
        client = self.engine.client
        aligned = align(prepared.built_steps, parse_build_log(self.logs[name]))
        images = step_images(client, prepared.built_steps, aligned.images)
        if ancestor(client, final, len(aligned.added)) != images[-1]:
            raise ChainError("the image it tagged is not the last step's image in its log")
        if aligned.added:
            self.notes.append(
                f"{name} build added {len(aligned.added)} step(s) of its own, "
                f"not compared: {'; '.join(aligned.added)}"
            )
        return images

    def _build(self, name: str, context: BuildContext, env: dict[str, str]) -> None:
        """One side's build, its log and time kept; a build that did not finish stops the cell."""
        self.log(f"building with {'docker-compose' if name == 'compose' else 'docker build'} ...")
        completed = self._run_build(name, context, env)
        self.logs[name] = completed.output
        self.timings[f"build_{name}"] = round(completed.seconds, 3)
        if completed.timed_out and completed.stuck_on_fifo:  # the program hangs: a behaviour
            reason = (
                f"{name} build hung opening a fifo of the build context (no writer ever "
                f"comes) until the {self.spec.timeout:.0f}s timeout"
            )
            raise _Stop(Judgement(Verdict.ERROR, reason=reason), f"{name}: {FIFO_HANG}")
        if completed.timed_out:
            reason = f"{name} build exceeded {self.spec.timeout:.0f}s"
            raise _Stop(Judgement(Verdict.TIMEOUT, reason=reason))
        if completed.ok:
            return
        setup = engine_setup_problem(completed.output)
        if setup:  # the engine's set-up, not the versions: no failure kind, a skip
            raise _Stop(Judgement(Verdict.ERROR, reason=f"{name} build failed: {setup}"))
        judgement = Judgement(
            Verdict.ERROR, reason=f"{name} build failed: {completed.error_lines(3)}"
        )
        cell_text = {str(self.workdir): CELL, self.project: "<project>", self.cell_id: "<id>"}
        raise _Stop(judgement, failure_kind(name, completed.error_lines(1), cell_text))

    def _run_build(self, name: str, context: BuildContext, env: dict[str, str]) -> Completed:
        """One build; with ``explain``, through a recording proxy that keeps what the client
        sent."""
        spec = self.spec
        with ExitStack() as stack:
            if spec.explain and spec.builder.legacy:
                # the socket in a folder of its own, as near the root as TMPDIR allows:
                # AF_UNIX paths have 107 bytes at most
                sockets = Path(
                    stack.enter_context(tempfile.TemporaryDirectory(prefix=workdir_prefix()))
                )
                proxy = stack.enter_context(
                    RecordingProxy(
                        self.engine.host, sockets / f"{name}.sock", self.workdir / f"capture-{name}"
                    )
                )
                env = {**env, "DOCKER_HOST": proxy.host}
            if name == "cli":
                buildkit = spec.builder.cli is not Builder.LEGACY  # default may be BuildKit
                return cli_build(
                    self.cli,
                    context.path,
                    self.cli_tag,
                    (*context.build.cli_options(), *spec.cli_flags),
                    context.build.context,
                    env,
                    spec.timeout,
                    buildkit,
                )
            return compose_build(
                self.installed.compose_exe,
                context.path,
                self.project,
                self.scenario.service,
                env,
                spec.timeout,
                self._compose_files(context),
            )

    def _compose_files(self, context: BuildContext) -> list[Path]:
        """The project's compose files, then one outside the context that names the service's
        image per cell (a tag is no part of a cache key, so the builds are unchanged)."""
        files = compose_files(context.path)
        override = self.workdir / "cell-image.yml"
        override.unlink(missing_ok=True)
        override.write_text(
            image_override(files[0].read_text(), self.scenario.service, self.compose_tag)
        )
        return [*files, override]

    def _explain(self, diverged: StepComparison, steps: int) -> Explanation:
        started = time.monotonic()
        experiment = Experiment(
            engine=self.engine,
            cell_id=self.cell_id,
            first=self.spec.sides[0],
            steps=steps,
            diverged=diverged,
            timeout=self.spec.timeout,
        )
        explanation = explain(
            self.workdir / "capture-compose",
            self.workdir / "capture-cli",
            diverged.instruction,
            experiment,
            self.log,
        )
        self.timings["explain"] = round(time.monotonic() - started, 3)
        return explanation


def _derive_bases(
    engine: Engine, scenario: Scenario, images: Sequence[str], cell_id: str
) -> dict[str, str]:
    """A per-cell base for each external image a stage starts from or copies from (image ->
    tag): one base per distinct image; never one for a stage or ``scratch``. A fixture's
    bases are all the one offline busybox image (with the scenario's ONBUILD triggers)."""
    kind = scenario.base
    tags: dict[str, str] = {}
    for image in images:
        if image not in tags and (kind != "busybox" or not tags):
            tags[image] = create_base(
                engine.client, kind, image, cell_id, len(tags), scenario.onbuild
            )
    return {image: tags.get(image) or next(iter(tags.values())) for image in images}
