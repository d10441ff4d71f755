"""Opening what cells need, in the order that costs least when the user made a typo: first the
release lists (to check versions), and only then the engine (the user's or a private one)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager

from harness.app.releases import Plans, Releases
from harness.app.runner import CellRunner, ReferenceClis
from harness.core.config import MatrixConfig
from harness.core.model import CliInfo, EngineInfo
from harness.edges.builders import find_cli
from harness.edges.engine import Engine, connect, peek
from harness.edges.index import ReleaseIndex
from harness.edges.paths import cache_dir
from harness.edges.provision import Tools
from harness.edges.runs import remove_orphan_workdirs, remove_orphans, stop_orphan_processes
from harness.edges.venvs import EnvironmentFactory
from harness.present.console import say


def load_releases() -> Releases:
    """Release lists through the cached index, read now: an unreachable index stops the run
    before anything else starts."""
    releases = Releases(ReleaseIndex(cache_dir()), log=say)
    releases.of("docker-compose")
    return releases


def engine_hosts(named: Sequence[str] | None) -> list[str]:
    """The engines the user named (--engine, else CACHE_BISECT_ENGINES, a comma list); none
    named means the one engine ``connect`` finds or starts."""
    if named:
        return list(dict.fromkeys(named))
    listed = os.environ.get("CACHE_BISECT_ENGINES", "")
    return list(dict.fromkeys(host.strip() for host in listed.split(",") if host.strip()))


def reference_cli(config: MatrixConfig, cli_path: str | None = None) -> CliInfo:
    """The reference CLI: ``cli_path`` (--cli), else ``[run] cli``, else ``docker`` on PATH."""
    return find_cli(cli_path or config.run.cli or "docker")


def peek_engines(
    hosts: Sequence[str], versions: Sequence[str] = ("",)
) -> dict[str, list[EngineInfo]] | None:
    """The facts of the engines serving each version ("": the run's engines) without
    starting one (None: some engine must start, or be fetched, to tell)."""
    root = cache_dir()
    tools = Tools(root, log=say)
    found: dict[str, list[EngineInfo]] = {}
    for version in dict.fromkeys(versions):
        if version:
            if tools.provisioned("engine", version) is None:
                return None
            infos = [peek(managed=tools.engine(version))]
        else:
            named: list[str | None] = list(hosts) or [None]
            infos = [peek(root / "engine", host) for host in named]
        known = [info for info in infos if info is not None]
        if len(known) != len(infos):
            return None
        found[version] = known
    return found


@contextmanager
def open_runners(
    config: MatrixConfig,
    releases: Releases,
    hosts: Sequence[str],
    cli_path: str | None = None,
    versions: Sequence[str] = ("",),
    plans: Plans | None = None,
) -> Iterator[list[CellRunner]]:
    """A runner per engine: for "" among ``versions`` the named hosts (else the one engine
    found or started), for each version a private engine of that version; all share
    ``plans`` (each cell's plan is made once, whichever engine asks)."""
    root = cache_dir()
    plans = plans or Plans(releases, config.compat)
    tools = Tools(root, log=say)
    clis = ReferenceClis(reference_cli(config, cli_path), tools)
    environments = EnvironmentFactory(
        root / "venvs", python=sys.executable, timeout=config.run.install_timeout
    )
    with ExitStack() as stack:
        serving: list[tuple[str, Engine]] = []
        for version in dict.fromkeys(versions):
            if version:
                opened = connect(managed=tools.engine(version), log=say)
                serving.append((version, stack.enter_context(opened)))
                continue
            named: list[str | None] = list(hosts) or [None]
            for host in named:
                opened = connect(root / "engine", log=say, host=host)
                serving.append(("", stack.enter_context(opened)))
        for _, engine in serving:
            _clear_orphans(engine)
        yield [
            CellRunner(
                engine=engine,
                cli=clis.default,
                environments=environments,
                releases=releases,
                compat=config.compat,
                log=say,
                clis=clis,
                serves=version,
                plans=plans,
            )
            for version, engine in serving
        ]


def _clear_orphans(engine: Engine) -> None:
    """Stop the processes and remove the engine objects killed runs left, saying so."""
    stopped = stop_orphan_processes()
    if stopped:
        say(f"stopped {len(stopped)} processes left running by killed runs")
    removed = remove_orphans(engine.client)
    if removed:
        runs = ", ".join(f"pid {run.split(':')[-2]}" for run in removed)
        say(f"removed {sum(removed.values())} engine objects left by killed runs ({runs})")
    folders = remove_orphan_workdirs()
    if folders:
        say(f"removed {len(folders)} work folders left by killed runs")
