"""What one command was asked to do, read from argv once and passed whole.

Each command used to thread the matrix file, release lists, engines, reference CLI and
results folder through long signatures; an ``Invocation`` holds them, with the plans made
from the release lists (each cell's plan once per run, whichever engine asks).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.app.releases import Plans, Releases
from harness.app.runner import CellRunner, ReferenceClis
from harness.app.session import open_runners, peek_engines, reference_cli
from harness.core.config import MatrixConfig, default_jobs
from harness.core.model import EngineInfo
from harness.edges.provision import Tools
from harness.present.console import say


@dataclass(frozen=True)
class Invocation:
    """``config`` with the engine and cli axes a typed version replaced; ``hosts`` and
    ``cli_path`` the engines and reference CLI named by host or path; ``project``/``service``
    the user's compose service (``typed``: as typed, for the reproduce line); ``remedies``
    and ``jobs`` as typed, else as the matrix file's [run] says (``force``: build stored
    cells again)."""

    config: MatrixConfig
    releases: Releases
    plans: Plans
    results: Path  # where the store and reports go (repro stores nothing)
    hosts: tuple[str, ...] = ()
    cli_path: str | None = None
    project: str | None = None
    service: str | None = None
    typed: tuple[str, str] | None = None
    remedies: bool = False
    jobs: int = 1
    force: bool = False

    @classmethod
    def of(
        cls,
        config: MatrixConfig,
        releases: Releases,
        results: Path = Path("results"),
        *,
        hosts: Sequence[str] = (),
        cli_path: str | None = None,
        project: tuple[str | None, str | None] = (None, None),
        typed: tuple[str, str] | None = None,
        remedies: bool = False,
        jobs: int | None = None,
        force: bool = False,
    ) -> Invocation:
        return cls(
            config,
            releases,
            Plans(releases, config.compat),
            results,
            tuple(hosts),
            cli_path,
            *project,
            typed,
            remedies=remedies or config.run.remedies,
            jobs=jobs or config.run.jobs or default_jobs(os.cpu_count()),
            force=force,
        )

    def clis(self) -> ReferenceClis:
        """The reference CLIs of the cells: the run's own, or one per version a cell names."""
        return ReferenceClis(reference_cli(self.config, self.cli_path), Tools(log=say))

    def peek(self, versions: Sequence[str]) -> dict[str, list[EngineInfo]] | None:
        """The engines' facts without starting one (None: one must start to tell)."""
        return peek_engines(self.hosts, versions)

    @contextmanager
    def runners(self, versions: Sequence[str]) -> Iterator[list[CellRunner]]:
        """A runner per engine serving ``versions`` ("" the run's own), sharing the plans."""
        with open_runners(
            self.config, self.releases, self.hosts, self.cli_path, versions, self.plans
        ) as runners:
            yield runners

    @contextmanager
    def runner(self, version: str = "") -> Iterator[CellRunner]:
        """A runner on the engine of ``version`` ("": the one named, found or started)."""
        with self.runners([version]) as runners:
            yield runners[0]
