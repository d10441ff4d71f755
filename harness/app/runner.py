"""Everything a cell needs that outlives one cell: engine, CLI, venvs, release lists, rules.

repro, matrix and bisect all run cells through one CellRunner, so a cell means the same thing
whichever command asked for it.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.app.images import check_images
from harness.app.releases import Plans, Releases
from harness.core.compat import Compat, InstallPlan
from harness.core.model import CellResult, CellSpec, CliInfo
from harness.core.scenarios import Scenario
from harness.edges.builders import has_buildkit
from harness.edges.engine import Engine
from harness.edges.fixtures import get_scenario, project_scenario
from harness.edges.paths import redact_cell
from harness.edges.provision import Tools
from harness.edges.runs import workdir_prefix
from harness.edges.venvs import EnvironmentFactory


def scenario_for(spec: CellSpec) -> Scenario:
    """The scenario a cell builds: a named fixture, or the user's project (read, not built)."""
    if spec.project:
        return project_scenario(Path(spec.project), spec.service or "")
    return get_scenario(spec.scenario)


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
    plans: Plans | None = None  # shared by a run's runners; else this runner's own
    _checked: set[str] = field(default_factory=set, init=False, repr=False)
    _checking: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    shared_plans: Plans = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.shared_plans = self.plans or Plans(self.releases, self.compat)

    def plan(self, spec: CellSpec) -> InstallPlan:
        return self.shared_plans.of(spec)

    def scenario(self, spec: CellSpec) -> Scenario:
        return scenario_for(spec)

    def cli_for(self, spec: CellSpec) -> CliInfo:
        return self.clis.of(spec) if self.clis else self.cli

    def run(self, spec: CellSpec, plan: InstallPlan | None = None) -> CellResult:
        # Imported here: a rerun whose every cell is stored never builds, and loads faster.
        from harness.app.cell import run_cell

        plan = plan or self.plan(spec)
        scenario = self.scenario(spec)
        self._check_images(scenario)
        with tempfile.TemporaryDirectory(prefix=workdir_prefix()) as workdir:
            result = run_cell(
                spec,
                plan=plan,
                scenario=scenario,
                engine=self.engine,
                cli=self.cli_for(spec),
                environments=self.environments,
                workdir=Path(workdir),
                log=self.log,
            )
        return redact_cell(result)  # stored and published: names no place on this machine

    def _check_images(self, scenario: Scenario) -> None:
        """The images the scenario needs are in this engine or will be pulled, checked once
        per scenario before any cell installs (parallel cells wait for the first check)."""
        key = f"{scenario.fixture}:{scenario.dockerfile}:{scenario.service}"
        with self._checking:
            if key not in self._checked:
                check_images(self.engine, scenario, self.log)
                self._checked.add(key)
