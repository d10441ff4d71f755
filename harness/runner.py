"""Everything a cell needs that outlives one cell: engine, CLI, venvs, release lists, rules.

repro, matrix and bisect all run cells through one CellRunner, so a cell means the same thing
whichever command asked for it.
"""

from __future__ import annotations

import platform
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.builders import Cli
from harness.cell import CellSpec, run_cell
from harness.compat import Compat, InstallPlan, plan_install
from harness.engine import Engine
from harness.envs import EnvironmentFactory
from harness.pypi import Release, ReleaseIndex, UnknownRelease, cutoff_for, resolve_bound
from harness.scenarios import Scenario, get_scenario, project_scenario

COMPOSE = "docker-compose"
SDK = "docker"


class BadInput(ValueError):
    """A version, scenario or option the user gave cannot be used; one-line message."""


@dataclass
class Releases:
    """Release lists of docker-compose and the docker SDK, fetched once per process."""

    index: ReleaseIndex
    log: Callable[[str], None] = print

    def __post_init__(self) -> None:
        self._lists: dict[str, list[Release]] = {}

    def of(self, package: str) -> list[Release]:
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
        except UnknownRelease as error:
            raise BadInput(f"{package}: {error}") from None
        if release.text != version and str(release.version) != version:
            raise BadInput(
                f"{package}: {version!r} is a series, name a release (e.g. {release.text})"
            )
        return release


def plan_for(spec: CellSpec, releases: Releases, compat: Compat) -> InstallPlan:
    """The install plan of a cell, validated against the index (no venv, no engine)."""
    compose = releases.exact(COMPOSE, spec.compose)
    if spec.sdk != "auto":
        releases.exact(SDK, spec.sdk)
    return plan_install(
        compat, compose.text, spec.sdk, platform.python_version(), cutoff_for(compose)
    )


@dataclass
class CellRunner:
    engine: Engine
    cli: Cli
    environments: EnvironmentFactory
    releases: Releases
    compat: Compat
    log: Callable[[str], None] = print

    def scenario(self, spec: CellSpec) -> Scenario:
        """The scenario a cell builds: a named fixture, or the user's project."""
        try:
            if spec.project:
                return project_scenario(Path(spec.project), spec.service or "")
            return get_scenario(spec.scenario)
        except ValueError as error:
            raise BadInput(str(error)) from None

    def run(self, spec: CellSpec, plan: InstallPlan | None = None) -> dict[str, object]:
        plan = plan or plan_for(spec, self.releases, self.compat)
        scenario = self.scenario(spec)
        with tempfile.TemporaryDirectory(prefix="cache-bisect-") as workdir:
            return run_cell(
                spec,
                plan=plan,
                scenario=scenario,
                engine=self.engine,
                cli=self.cli,
                environments=self.environments,
                workdir=Path(workdir),
                log=self.log,
            )
