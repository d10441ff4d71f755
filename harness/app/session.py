"""Opening what cells need, in the order that costs least when the user made a typo: first the
release lists (to check versions), and only then the engine (the user's or a private one)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from harness.app.runner import CellRunner, Releases
from harness.core.config import MatrixConfig
from harness.core.model import UserError
from harness.edges.builders import CliMissing, find_cli
from harness.edges.engine import Engine, NoEngine, connect
from harness.edges.index import ReleaseIndex, ReleaseIndexError
from harness.edges.paths import cache_dir
from harness.edges.runs import remove_orphans, stop_orphan_processes
from harness.edges.venvs import EnvironmentFactory
from harness.present.console import say


def load_releases() -> Releases:
    """Release lists through the cached index; an unreachable index is one line."""
    try:
        releases = Releases(ReleaseIndex(cache_dir()), log=say)
        releases.of("docker-compose")
    except ReleaseIndexError as error:
        raise UserError(str(error)) from None
    return releases


@contextmanager
def open_runner(
    config: MatrixConfig, releases: Releases, cli_path: str | None = None
) -> Iterator[CellRunner]:
    """Yield a runner on an engine; engine and CLI problems become one-line UserErrors.

    The reference CLI is ``cli_path``, else ``[run] cli``, else ``docker`` on PATH."""
    root = cache_dir()
    try:
        cli = find_cli(cli_path or config.run.cli or "docker")
        with connect(root / "engine", log=say) as engine:
            _clear_orphans(engine)
            yield CellRunner(
                engine=engine,
                cli=cli,
                environments=EnvironmentFactory(
                    root / "venvs", python=sys.executable, timeout=config.run.install_timeout
                ),
                releases=releases,
                compat=config.compat,
                log=say,
            )
    except (NoEngine, CliMissing) as error:
        raise UserError(str(error)) from None


def _clear_orphans(engine: Engine) -> None:
    """Stop the processes and remove the engine objects killed runs left, saying so."""
    stopped = stop_orphan_processes()
    if stopped:
        say(f"stopped {len(stopped)} processes left running by killed runs")
    removed = remove_orphans(engine.client)
    if removed:
        runs = ", ".join(f"pid {run.split(':')[-2]}" for run in removed)
        say(f"removed {sum(removed.values())} engine objects left by killed runs ({runs})")
