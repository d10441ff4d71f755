"""Opening a CellRunner: release index, engine (the user's or a private one), CLI and venvs."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from harness.builders import CliMissing, find_cli
from harness.config import MatrixConfig
from harness.console import say
from harness.engine import NoEngine, connect
from harness.envs import EnvironmentFactory
from harness.paths import cache_dir
from harness.pypi import ReleaseIndex, ReleaseIndexError
from harness.runner import BadInput, CellRunner, Releases


@contextmanager
def open_runner(config: MatrixConfig) -> Iterator[CellRunner]:
    """Yield a runner; engine problems and index problems become BadInput one-liners."""
    root = cache_dir()
    try:
        releases = Releases(ReleaseIndex(root), log=say)
        releases.of("docker-compose")
    except ReleaseIndexError as error:
        raise BadInput(str(error)) from None
    try:
        cli = find_cli()
        with connect(root / "engine", log=say) as engine:
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
        raise BadInput(str(error)) from None
