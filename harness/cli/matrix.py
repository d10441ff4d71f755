"""``nox -s matrix``: every cell of matrix.toml, reusing stored cells, then the tables."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from harness.app.matrixrun import run_matrix, stored_only
from harness.app.merge import merge_shards, write_manifest
from harness.app.runner import COMPOSE, SDK, Releases, plan_for, scenario_for
from harness.app.session import (
    engine_hosts,
    load_releases,
    open_runners,
    peek_engines,
    reference_cli,
)
from harness.app.store import CellKeys, ResultStore
from harness.cli.options import OneLineParser, add_config, add_project, jobs, project_of
from harness.core.config import (
    MatrixConfig,
    default_jobs,
    load_config,
)
from harness.core.errors import Interrupted, UserError
from harness.core.matrix import cell_id, expand_matrix
from harness.core.model import CellResult, CellSpec
from harness.core.report import MatrixDocument
from harness.core.shards import Shard, parse_shard, shard_cells
from harness.edges.files import check_writable, write_atomically
from harness.edges.fixtures import load_scenarios
from harness.edges.paths import redact
from harness.present.console import say
from harness.present.tables import markdown_report, terminal_table


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
    p.add_argument(
        "-j",
        "--jobs",
        type=jobs,
        metavar="N",
        help="cells at once (default: [run] jobs, else the number of CPUs, at most 8)",
    )
    p.add_argument(
        "--engine",
        action="append",
        metavar="HOST",
        help="a Docker engine to run cells on (repeatable: cells are spread over them, each "
        "wholly on one, which it records); default: CACHE_BISECT_ENGINES (a comma list), "
        "else DOCKER_HOST or a private engine",
    )
    split = p.add_mutually_exclusive_group()
    split.add_argument(
        "--shard",
        type=shard,
        metavar="K/N",
        help="run only shard K of N (deterministic, balanced; cells sharing a venv stay "
        "together) and write RESULTS/shard-K-of-N.json instead of the tables",
    )
    split.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        metavar="DIR",
        help="build nothing: combine the stored cells of shard result folders (each with "
        "cells/ and shard-K-of-N.json) into RESULTS/matrix.json and matrix.md",
    )
    add_config(p, "matrix file")
    p.add_argument(
        "--cli",
        metavar="PATH",
        help="the reference docker CLI (default: [run] cli, else docker on PATH); BuildKit "
        "cells need one with BuildKit built in (20.10) or buildx",
    )
    add_project(p)
    return p


def shard(text: str) -> Shard:
    try:
        return parse_shard(text)
    except UserError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


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
        if args.merge:
            if args.only:
                raise UserError("--merge combines whole matrices: drop --only")
            store = ResultStore(args.results / "cells", warn=say)
            merged = merge_shards(args.merge, cells, into=store)
            say(terminal_table(merged))
            write_tables(args.results, merged, config, args.cli)
            say(f"\nwrote {args.results / 'matrix.md'} and {args.results / 'matrix.json'}")
            return 0
        matrix = cells
        if args.shard:
            cells = shard_cells(cells, args.shard)
            say(f"shard {args.shard}: {len(cells)} of {len(matrix)} cells")
        if args.only:
            cells = _select(cells, args.only)
        for spec in cells:
            plan_for(spec, releases, config.compat)  # every version exists before the engine
        hosts = engine_hosts(args.engine)
        store = ResultStore(args.results / "cells", warn=say)
        stored = (
            None if args.force else _all_stored(cells, config, releases, hosts, store, args.cli)
        )
        results = stored
        if results is None:
            with open_runners(config, releases, hosts, args.cli) as runners:
                parallel = args.jobs or config.run.jobs or default_jobs(os.cpu_count())
                results = run_matrix(
                    cells, runners, store, force=args.force, progress=say, jobs=parallel
                )
    except KeyboardInterrupt:
        raise Interrupted(
            "interrupted: every finished cell is stored; run again to resume"
        ) from None
    say("")
    say(terminal_table(results))
    if args.shard and not args.only:
        path = write_manifest(args.results, args.shard, matrix, cells, results, config.source)
        say(f"\nwrote {path}: combine the shards with --merge")
    elif not args.only:
        write_tables(args.results, results, config, args.cli)
        say(f"\nwrote {args.results / 'matrix.md'} and {args.results / 'matrix.json'}")
    return 0


def _all_stored(
    cells: Sequence[CellSpec],
    config: MatrixConfig,
    releases: Releases,
    hosts: Sequence[str],
    store: ResultStore,
    cli_path: str | None,
) -> list[CellResult] | None:
    """Every cell from the store without starting an engine, if the engines' facts are known
    without starting one (see edges.engine.peek) and every cell is stored under them."""
    engines = peek_engines(hosts)
    if engines is None:
        return None
    keys = CellKeys(releases, config.compat, reference_cli(config, cli_path))
    return stored_only(cells, keys, engines, store)


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


def write_tables(
    results_dir: Path, cells: list[CellResult], config: MatrixConfig, cli: str | None = None
) -> None:
    """matrix.json and matrix.md; the reproduce line names every option that changes cells."""
    options = [] if config.source == "matrix.toml" else ["--config", config.source]
    options += ["--cli", cli] if cli else []
    document = MatrixDocument(
        cells=tuple(cells),
        config=config.source,
        reproduce=" ".join(["nox -s matrix", *(["--", *options] if options else [])]),
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    text = json.dumps(document.to_json(), indent=1) + "\n"
    write_atomically(results_dir / "matrix.json", redact(text))
    write_atomically(results_dir / "matrix.md", redact(markdown_report(cells)))
