"""``nox -s matrix``: every cell of matrix.toml, reusing stored cells, then the tables."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from harness.app.runner import COMPOSE, SDK, CellRunner, Releases, plan_for, scenario_for
from harness.app.session import load_releases, open_runner
from harness.app.store import ResultStore, StoredCells
from harness.cli.options import OneLineParser, add_config, add_project, project_of
from harness.core.config import ConfigError, MatrixConfig, load_config
from harness.core.matrix import cell_id, expand_matrix
from harness.core.model import CellResult, CellSpec, UserError
from harness.core.report import MatrixDocument
from harness.edges.files import check_writable, write_atomically
from harness.edges.fixtures import load_scenarios
from harness.edges.paths import redact
from harness.present.console import fail, say
from harness.present.tables import markdown_report, terminal_table
from harness.present.words import mark


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="nox -s matrix --",
        description="Run every cell of the matrix (compose x sdk x scenario x cli_build x "
        "builder), reuse stored cells, and write RESULTS/matrix.json and RESULTS/matrix.md.",
    )
    p.add_argument(
        "--results",
        type=Path,
        default=Path("results"),
        help="result folder: tables here, finished cells in RESULTS/cells/ (default: results)",
    )
    p.add_argument(
        "--force", action="store_true", help="rebuild every cell even if a stored result exists"
    )
    p.add_argument(
        "--only",
        action="append",
        metavar="CELL",
        help="run only this cell id (repeatable; see --list); no tables are written",
    )
    p.add_argument("--list", action="store_true", help="print the cell ids and exit")
    add_config(p, "matrix file")
    p.add_argument(
        "--cli",
        metavar="PATH",
        help="the reference docker CLI (default: [run] cli, else docker on PATH); BuildKit "
        "cells need one with BuildKit built in (20.10) or buildx",
    )
    add_project(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        project, service = project_of(args)
        config = load_config(args.config)
        if project:
            scenario_for(CellSpec(compose="", project=project, service=service))
        if not args.list:
            check_writable(args.results / "cells")
        releases = load_releases()
        cells = matrix_cells(config, releases, project, service)
        if args.list:
            for spec in cells:
                say(cell_id(spec))
            return 0
        if args.only:
            cells = _select(cells, args.only)
        for spec in cells:
            plan_for(spec, releases, config.compat)  # every version exists before the engine
        with open_runner(config, releases, args.cli) as runner:
            store = ResultStore(args.results / "cells", warn=say)
            results = run_matrix(cells, runner, store, force=args.force, progress=say)
    except (UserError, ConfigError) as error:
        return fail(str(error))
    except KeyboardInterrupt:
        return fail("interrupted: every finished cell is stored; run again to resume", 130)
    say("")
    say(terminal_table(results))
    if not args.only:
        write_tables(args.results, results, config)
        say(f"\nwrote {args.results / 'matrix.md'} and {args.results / 'matrix.json'}")
    return 0


def matrix_cells(
    config: MatrixConfig,
    releases: Releases,
    project: str | None = None,
    service: str | None = None,
) -> list[CellSpec]:
    explicit_sdk = any(sdk != "auto" for sdk in config.sdk)
    return expand_matrix(
        config,
        releases.of(COMPOSE),
        releases.of(SDK) if explicit_sdk else [],
        load_scenarios(),
        project,
        service,
    )


def _select(cells: list[CellSpec], wanted: Sequence[str]) -> list[CellSpec]:
    by_id = {cell_id(spec): spec for spec in cells}
    unknown = [name for name in wanted if name not in by_id]
    if unknown:
        raise UserError(f"no cell {unknown[0]!r} in this matrix (valid: {', '.join(by_id)})")
    return [by_id[name] for name in wanted]


def run_matrix(
    cells: Sequence[CellSpec],
    runner: CellRunner,
    store: ResultStore,
    *,
    force: bool = False,
    progress: Callable[[str], None] = say,
) -> list[CellResult]:
    """Run or reuse each cell, storing each the moment it finishes; one progress line each."""
    started = time.monotonic()
    built_seconds: list[float] = []
    results = []
    stored_cells = StoredCells(runner, store, force=force)
    for number, spec in enumerate(cells, start=1):
        cell_started = time.monotonic()
        result, reused = stored_cells.get(spec)
        if reused:
            how = "stored"
        else:
            built_seconds.append(time.monotonic() - cell_started)
            how = f"{built_seconds[-1]:.1f}s"
        results.append(result)
        progress(_progress_line(number, len(cells), spec, result, how, started, built_seconds))
    return results


def _progress_line(
    number: int,
    total: int,
    spec: CellSpec,
    result: CellResult,
    how: str,
    started: float,
    built_seconds: list[float],
) -> str:
    elapsed = time.monotonic() - started
    remaining = total - number
    eta = (sum(built_seconds) / len(built_seconds)) * remaining if built_seconds else 0.0
    width = len(str(total))
    return (
        f"[{number:>{width}}/{total}] {cell_id(spec):<24} {mark(result):<18} ({how}) "
        f"elapsed {_clock(elapsed)}, ETA {_clock(eta)}"
    )


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}:{seconds:02d}"


def write_tables(results_dir: Path, cells: list[CellResult], config: MatrixConfig) -> None:
    document = MatrixDocument(
        cells=tuple(cells),
        config=config.source,
        reproduce="nox -s matrix"
        + ("" if config.source == "matrix.toml" else f" -- --config {config.source}"),
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    text = json.dumps(document.to_json(), indent=1) + "\n"
    write_atomically(results_dir / "matrix.json", redact(text))
    write_atomically(results_dir / "matrix.md", redact(markdown_report(cells)))


if __name__ == "__main__":
    sys.exit(main())
