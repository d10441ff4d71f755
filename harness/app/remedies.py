"""Remedies, proven by builds: every remedy a diverged cell can try is run as a cell of its
own (the same engine, scenario or project, base image kind and build options, with the one
change the remedy makes), and its verdict is that cell's.

A trial that is a cell the store already holds (a matrix cell such as the same release with
COMPOSE_DOCKER_CLI_BUILD=1) costs nothing; a new one is built without explain (its cause is
not the question) and stored like any cell. The nearest compose release that shares comes
from the store when it can, else from building the newest releases.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Protocol

from harness.app.runner import CellRunner
from harness.app.store import ResultStore, StoredCells
from harness.core.flavour import cannot_run
from harness.core.matrix import cell_id
from harness.core.model import CellResult, CellSpec, CliInfo, Verdict
from harness.core.releases import COMPOSE
from harness.core.remedies import (
    REMEDY_CLIS,
    Trial,
    by_cost,
    cli_candidates,
    cli_line,
    major_of,
    nearest_first,
    newest_to_try,
    no_release,
    outcome,
    release_trial,
    trials,
)
from harness.core.remedy import NOT_TRIED, Remedy
from harness.core.report import BisectReport
from harness.edges.builders import clis_on_path, has_buildkit
from harness.edges.process import allow_children, stop_children
from harness.edges.provision import NotOffered, ProvisionError
from harness.present.words import remedies_progress


class TrialCells(Protocol):
    """Where a trial's cell comes from: the store, else a build."""

    def known(self, spec: CellSpec) -> CellResult | None: ...

    def get(self, spec: CellSpec, cli: CliInfo | None) -> tuple[CellResult, bool]: ...

    def unbuildable(self, spec: CellSpec, cli: CliInfo | None) -> str | None: ...


def unbuildable(runner: CellRunner, spec: CellSpec, cli: CliInfo | None) -> str | None:
    """Why the trial's cell cannot run with its reference CLI (a trial's own ``cli``, else
    the cell's), known before any build: a BuildKit trial on a CLI without buildx says so
    instead of installing and failing."""

    def has_it() -> bool:  # asked only of a trial that needs BuildKit from its CLI
        if cli is not None:
            return has_buildkit(cli)
        if runner.clis is not None:
            return runner.clis.buildkit(spec)
        return has_buildkit(runner.cli)

    return cannot_run(spec, has_it)


def with_cli(runner: CellRunner, cli: CliInfo | None) -> CellRunner:
    """The runner, or the same with ``cli`` as every cell's reference CLI (a trial's)."""
    return runner if cli is None else dataclasses.replace(runner, cli=cli, clis=None)


class BuiltCells:
    """Every trial built afresh (repro: one cell, no store)."""

    def __init__(self, runner: CellRunner) -> None:
        self.runner = runner

    def known(self, spec: CellSpec) -> CellResult | None:
        return None

    def get(self, spec: CellSpec, cli: CliInfo | None) -> tuple[CellResult, bool]:
        return with_cli(self.runner, cli).run(replace(spec, explain=False)), False

    def unbuildable(self, spec: CellSpec, cli: CliInfo | None) -> str | None:
        return unbuildable(self.runner, spec, cli)


class StoredTrialCells:
    """Trials through the result store: a cell of this run (``fresh``, by store key) or a
    stored one (with or without explain) is reused, a new one is stored for the next run."""

    def __init__(
        self,
        runner: CellRunner,
        store: ResultStore,
        *,
        force: bool = False,
        fresh: Mapping[str, CellResult] | None = None,
    ) -> None:
        self.runner = runner
        self.store = store
        self.force = force
        self.fresh = fresh or {}
        self._by_cli: dict[str, StoredCells] = {}

    def _cells(self, cli: CliInfo | None) -> StoredCells:
        which = cli.path if cli else ""
        if which not in self._by_cli:
            runner = with_cli(self.runner, cli)
            self._by_cli[which] = StoredCells(runner, self.store, force=self.force)
        return self._by_cli[which]

    def known(self, spec: CellSpec, cli: CliInfo | None = None) -> CellResult | None:
        cells = self._cells(cli)
        for each in (spec, replace(spec, explain=False)):
            key = cells.keys.key(each, self.runner.engine.info)
            found = self.fresh.get(key) or cells.lookup(each)
            if found is not None:
                return found
        return None

    def get(self, spec: CellSpec, cli: CliInfo | None) -> tuple[CellResult, bool]:
        stored = self.known(spec, cli)
        if stored is not None:
            return stored, True
        return self._cells(cli).build(replace(spec, explain=False)), False

    def unbuildable(self, spec: CellSpec, cli: CliInfo | None) -> str | None:
        return unbuildable(self.runner, spec, cli)


def find_remedies(
    spec: CellSpec,
    cell: CellResult,
    cells: TrialCells,
    releases: Sequence[str],
    clis: Sequence[CliInfo] = (),
    log: Callable[[str], None] = print,
    unavailable: Sequence[Remedy] = (),
) -> tuple[Remedy, ...]:
    """Every remedy of a diverged cell, cheapest first, each with the engine's verdict;
    ``unavailable`` are the CLIs that could not be had (not tried, with why)."""
    if cell.verdict is not Verdict.DIVERGED:
        return ()
    found = [_run(trial, cells, log) for trial in trials(spec, cell, clis)]
    found += _nearest_release(spec, cells, releases, log)
    return tuple(by_cost([*found, *unavailable]))


def other_clis(
    cell: CellResult,
    on_path: Sequence[CliInfo],
    fetch: Callable[[str], CliInfo] | None,
    versions: Sequence[str] = REMEDY_CLIS,
) -> tuple[list[CliInfo], list[Remedy]]:
    """The docker CLIs a cell tries instead of its own (see ``cli_candidates``): those of
    ``versions`` fetched by version (``fetch``: the run's --cli VERSION machinery, None when
    it has none; one that cannot be fetched gives way to a CLI of its major on PATH), then
    those on PATH; and a not-tried remedy for each that could not be had."""
    wanted, found = cli_candidates(cell.cli.version, versions, on_path)
    fetched: list[CliInfo] = []
    missing: list[Remedy] = []
    for version in wanted:
        reason = "this run fetches no docker CLI by version"
        if fetch is not None:
            try:
                fetched.append(fetch(version))
                continue
            except (ProvisionError, NotOffered) as error:
                reason = str(error)
        spare = [cli for cli in on_path if major_of(cli.version) == major_of(version)]
        if spare:
            fetched.append(spare[0])
        else:
            missing.append(Remedy("cli", cli_line(version), NOT_TRIED, reason=reason))
    return fetched + found, missing


def fetcher(runner: CellRunner) -> Callable[[str], CliInfo] | None:
    """How this run fetches a docker CLI by version (as --cli VERSION), if it can."""
    clis = runner.clis
    return None if clis is None else clis.version


def _run(trial: Trial, cells: TrialCells, log: Callable[[str], None]) -> Remedy:
    if trial.spec is None:
        return trial.not_tried()
    if (reason := cells.unbuildable(trial.spec, trial.cli)) is not None:
        return replace(trial, reason=reason).not_tried()
    log(f"remedy: trying '{trial.remedy}' ...")
    started = time.monotonic()
    result, stored = cells.get(trial.spec, trial.cli)
    return outcome(trial, result, stored, time.monotonic() - started)


def _nearest_release(
    spec: CellSpec, cells: TrialCells, releases: Sequence[str], log: Callable[[str], None]
) -> list[Remedy]:
    """The nearest release whose stored cell shares; without one, the newest releases built
    (each shown, the first that shares ending the search)."""
    for release in nearest_first(spec.compose, releases):
        trial = release_trial(spec, release)
        assert trial.spec is not None
        stored = cells.known(trial.spec)
        if stored is not None and stored.verdict is Verdict.SHARED:
            return [outcome(trial, stored, True, 0.0)]
    tried: list[Remedy] = []
    for release in newest_to_try(spec.compose, releases):
        tried.append(_run(release_trial(spec, release), cells, log))
        if tried[-1].helps:
            break
    return tried or [no_release(spec.compose)]


def release_texts(runner: CellRunner) -> list[str]:
    """The compose axis (1.x and 2.x) the nearest release is looked for in."""
    return [release.text for release in runner.releases.of(COMPOSE)]


def with_remedies(
    runner: CellRunner,
    spec: CellSpec,
    cell: CellResult,
    cells: TrialCells | None = None,
    log: Callable[[str], None] = print,
    clis: Sequence[CliInfo] | None = None,
) -> CellResult:
    """``cell`` with its remedies (a diverged cell not yet tried; any other as it is). The
    other CLIs tried are those of REMEDY_CLIS fetched by version, then ``clis`` (by default
    every ``docker`` on PATH), one per major version."""
    if not needs_remedies(cell):
        return cell
    others, unavailable = other_clis(
        cell, clis_on_path() if clis is None else clis, fetcher(runner)
    )
    found = find_remedies(
        spec, cell, cells or BuiltCells(runner), release_texts(runner), others, log, unavailable
    )
    return replace(cell, remedies=found)


def needs_remedies(cell: CellResult) -> bool:
    """A diverged cell whose remedies were not tried yet."""
    return cell.verdict is Verdict.DIVERGED and cell.remedies is None


def remedy_matrix(
    specs: Sequence[CellSpec],
    results: Sequence[CellResult],
    runners: Sequence[CellRunner],
    store: ResultStore,
    *,
    jobs: int = 1,
    force: bool = False,
    progress: Callable[[str], None] = print,
) -> list[CellResult]:
    """The matrix's results with the remedies of each diverged cell that has none yet, ``jobs``
    cells at once; each remedied cell is stored again under its key (remedies do not change
    what the cell itself observed, so the key stays)."""
    todo = [index for index, cell in enumerate(results) if needs_remedies(cell)]
    if not todo:
        return list(results)
    fresh = {cell.store_key: cell for cell in results if cell.store_key}
    clis = clis_on_path()  # asked once for the whole matrix
    jobs = max(1, min(jobs, len(todo)))
    if jobs > 1:
        runners = [dataclasses.replace(each, log=lambda line: None) for each in runners]
    serving: dict[str, CellRunner] = {}
    for each in runners:  # a cell is remedied on an engine of its own version
        serving.setdefault(each.serves, each)
    done = list(results)
    finished = 0
    lock = threading.Lock()

    def one(index: int) -> None:
        nonlocal finished
        spec, cell = specs[index], results[index]
        runner = serving[spec.engine]
        trials = StoredTrialCells(runner, store, force=force, fresh=fresh)
        remedied = with_remedies(runner, spec, cell, trials, runner.log, clis)
        if cell.store_key:
            remedied = store.put(cell.store_key, remedied)
        with lock:
            done[index] = remedied
            finished += 1
            progress(remedies_progress(finished, len(todo), cell_id(spec), remedied.remedies))

    if jobs == 1:
        for index in todo:
            one(index)
        return done
    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="remedy")
    try:
        for future in [pool.submit(one, index) for index in todo]:
            future.result()
    except KeyboardInterrupt:
        stop_children()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        allow_children()
    return done


def remedy_bisect_ends(
    report: BisectReport,
    spec_of: Callable[[str], CellSpec],
    runner: CellRunner,
    store: ResultStore,
    log: Callable[[str], None] = print,
) -> BisectReport:
    """The report with the remedies of each diverged end of the searched range (the first
    and the last release), each end stored again with them."""
    ends = set(report.resolved)
    probes = []
    for probe in report.probes:
        cell = probe.cell
        if probe.version in ends and cell is not None and needs_remedies(cell):
            trials = StoredTrialCells(runner, store)
            remedied = with_remedies(runner, spec_of(probe.version), cell, trials, log)
            if cell.store_key:
                remedied = store.put(cell.store_key, remedied)
            probe = replace(probe, cell=remedied)
        probes.append(probe)
    return replace(report, probes=tuple(probes))
