"""``nox -s matrix``: every cell of matrix.toml, reusing stored cells, then the tables."""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from harness.app.invocation import Invocation
from harness.app.matrixrun import plan_out, run_matrix, stored_only
from harness.app.merge import merge_shards, write_manifest
from harness.app.releases import matrix_cells
from harness.app.remedies import needs_remedies, remedy_matrix
from harness.app.runner import ReferenceClis, scenario_for
from harness.app.session import engine_hosts, load_releases
from harness.app.store import CellKeys, ResultStore
from harness.cli.options import (
    PUBLISHED_RESULTS,
    OneLineParser,
    add_config,
    add_project,
    add_remedies,
    add_results,
    jobs,
    project_named,
    project_of,
    results_of,
    split_tool,
)
from harness.cli.outputs import check_outputs, write_outputs
from harness.core.config import (
    MatrixConfig,
    load_config,
)
from harness.core.errors import Interrupted, UserError
from harness.core.matrix import cell_id
from harness.core.model import CellResult, CellSpec
from harness.core.report import MatrixDocument
from harness.core.shards import Shard, parse_shard, shard_cells
from harness.edges.paths import cli_named, redact
from harness.edges.provision import Tools
from harness.present.console import say
from harness.present.tables import markdown_report, terminal_table
from harness.present.words import planned_out_line


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="nox -s matrix --",
        description="Run every cell of the matrix (compose x sdk x scenario x cli_build x "
        "builder), reuse stored cells, and write RESULTS/matrix.json and RESULTS/matrix.md.",
    )
    add_results(p, "tables here, finished cells in RESULTS/cells/")
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
        metavar="HOST|VERSION",
        help="a Docker engine to run cells on (repeatable): an address (cells are spread over "
        "the addresses, each wholly on one, which it records; default: CACHE_BISECT_ENGINES, "
        "a comma list, else DOCKER_HOST or a private engine), or a version like 28.5 (replaces "
        "the matrix's engine axis: a private engine of Debian's dockerd of that version, "
        "fetched into the harness's cache)",
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
    add_remedies(p)
    add_config(p, "matrix file")
    p.add_argument(
        "--cli",
        metavar="PATH|VERSION",
        help="the reference docker CLI (default: [run] cli, else docker on PATH); a version "
        "like 28.5 replaces the matrix's cli axis (Debian's CLI of that version, with its "
        "buildx plugin from 23 on, fetched into the harness's cache); BuildKit cells need a "
        "CLI with BuildKit built in (20.10) or buildx",
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
    args.results = results_of(args)
    try:
        run = _invocation(args)
        cells = matrix_cells(run.config, run.releases, run.project, run.service)
        if args.list:
            for spec in cells:
                say(cell_id(spec))
            return 0
        if args.merge:
            return _merge(args, run, cells)
        matrix, cells = cells, _chosen(args, cells)
        cells, results = _results(run, cells)
    except KeyboardInterrupt:
        raise Interrupted(
            "interrupted: every finished cell is stored; run again to resume"
        ) from None
    say("")
    say(terminal_table(results))
    if args.shard and not args.only:
        path = write_manifest(run.results, args.shard, matrix, cells, results, run.config.source)
        say(f"\nwrote {path}: combine the shards with --merge")
    elif not args.only:
        _write(run, results)
    return 0


def _invocation(args: argparse.Namespace) -> Invocation:
    """Everything typed, checked before the index or an engine is asked; then the releases."""
    project, service = project_of(args)
    config, hosts, cli_path = _with_tools(load_config(args.config), args.engine, args.cli)
    if project:
        scenario_for(CellSpec(compose="", project=project, service=service))
    if not args.list:
        check_outputs(_outputs(args), [args.results / "cells"])
    typed = project_named(args)
    return Invocation.of(
        config,
        load_releases(),
        args.results,
        hosts=hosts,
        cli_path=cli_path,
        project=(project, service),
        typed=typed,
        remedies=args.remedies,
        jobs=args.jobs,
        force=args.force,
    )


def _results(run: Invocation, cells: list[CellSpec]) -> tuple[list[CellSpec], list[CellResult]]:
    """The cells that can run with their CLI and their results: from the store when every
    one is there, else built (and their remedies tried when asked)."""
    for spec in cells:
        run.plans.of(spec)  # every version exists before the engine
    Tools(log=say).prefetch([spec.engine for spec in cells], [spec.cli for spec in cells])
    clis = run.clis()
    cells, planned_out = plan_out(cells, clis)
    for reason, skipped in planned_out.items():
        say(planned_out_line(reason, [cell_id(spec) for spec in skipped]))
    if not cells:
        raise UserError("no cell of the matrix can run with this CLI (see above)")
    store = ResultStore(run.results / "cells", warn=say)
    stored = None if run.force else _all_stored(cells, run, store, clis)
    if stored is not None and not (run.remedies and any(needs_remedies(c) for c in stored)):
        return cells, stored  # remedies still to try are tried on the engine
    with run.runners([spec.engine for spec in cells]) as runners:
        results = run_matrix(cells, runners, store, force=run.force, progress=say, jobs=run.jobs)
        if run.remedies:
            results = remedy_matrix(
                cells, results, runners, store, jobs=run.jobs, force=run.force, progress=say
            )
    return cells, results


def _merge(args: argparse.Namespace, run: Invocation, cells: list[CellSpec]) -> int:
    """Combine the stored cells of --shard runs into the tables."""
    if args.only:
        raise UserError("--merge combines whole matrices: drop --only")
    store = ResultStore(run.results / "cells", warn=say)
    merged = merge_shards(args.merge, cells, into=store)
    say(terminal_table(merged))
    _write(run, merged)
    return 0


def _chosen(args: argparse.Namespace, cells: list[CellSpec]) -> list[CellSpec]:
    """The cells this run builds: its shard (said), then only the ones named."""
    if args.shard:
        matrix, cells = cells, shard_cells(cells, args.shard)
        say(f"shard {args.shard}: {len(cells)} of {len(matrix)} cells")
    return _select(cells, args.only) if args.only else cells


def _write(run: Invocation, cells: list[CellResult]) -> None:
    write_tables(run.results, cells, run.config, run.cli_path, run.typed)
    say(f"\nwrote {run.results / 'matrix.md'} and {run.results / 'matrix.json'}")


def _outputs(args: argparse.Namespace) -> list[Path]:
    """The files this run will write when its work is done."""
    if args.only:
        return []
    if args.shard:
        return [args.results / args.shard.file_name]
    return [args.results / "matrix.json", args.results / "matrix.md"]


def _all_stored(
    cells: Sequence[CellSpec], run: Invocation, store: ResultStore, clis: ReferenceClis
) -> list[CellResult] | None:
    """Every cell from the store without starting an engine, if the engines' facts are known
    without starting one (see edges.engine.peek) and every cell is stored under them."""
    engines = run.peek([spec.engine for spec in cells])
    if engines is None:
        return None
    return stored_only(cells, CellKeys(run.plans, clis.of), engines, store)


def _with_tools(
    config: MatrixConfig, engines: Sequence[str] | None, cli: str | None
) -> tuple[MatrixConfig, list[str], str | None]:
    """--engine and --cli as typed: versions replace the matrix's engine or cli axis; hosts
    and a path name the run's own engines and reference CLI."""
    named = engines or []
    versions = [text for text in named if split_tool(text)[0]]
    hosts = engine_hosts([text for text in named if not split_tool(text)[0]])
    if versions:
        config = replace(config, engine=tuple(dict.fromkeys(versions)))
    cli_version, cli_path = split_tool(cli)
    if cli_version:
        config = replace(config, cli=(cli_version,))
    return config, hosts, cli_path


def _select(cells: list[CellSpec], wanted: Sequence[str]) -> list[CellSpec]:
    by_id = {cell_id(spec): spec for spec in cells}
    unknown = [name for name in wanted if name not in by_id]
    if unknown:
        raise UserError(f"no cell {unknown[0]!r} in this matrix (valid: {', '.join(by_id)})")
    return [by_id[name] for name in wanted]


def _published(path: str) -> str:
    """A file as the published tables name it: as typed, or by its name when typed as an
    absolute path (where it lies on this machine is nobody else's business)."""
    return Path(path).name if Path(path).is_absolute() else path


def _published_folder(path: Path) -> str:
    """A results folder as the reproduce line names it: relative to where the run started when
    it lies there, else by its name (as ``_published``)."""
    if not path.is_absolute():
        return str(path)
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return path.name


def write_tables(
    results_dir: Path,
    cells: list[CellResult],
    config: MatrixConfig,
    cli: str | None = None,
    project: tuple[str, str] | None = None,
) -> None:
    """matrix.json and matrix.md; the reproduce line names every option that changes cells
    (a user's ``project``: its folder and service, else it would rebuild the fixtures) or
    where they go (a results folder other than the default: else the line would overwrite
    the default's tables)."""
    source = _published(config.source)
    options = [] if source == "matrix.toml" else ["--config", source]
    options += ["--cli", cli_named(shutil.which(cli) or cli)] if cli else []  # no machine path
    options += ["--project", shlex.quote(project[0]), "--service", project[1]] if project else []
    default = PUBLISHED_RESULTS / "projects" / project[0] if project else PUBLISHED_RESULTS
    if (folder := _published_folder(results_dir)) != str(default):
        options += ["--results", shlex.quote(folder)]
    document = MatrixDocument(
        cells=tuple(cells),
        config=source,
        reproduce=" ".join(["nox -s matrix", *(["--", *options] if options else [])]),
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    text = redact(json.dumps(document.to_json(), indent=1) + "\n")
    files = [(results_dir / "matrix.json", text)]
    files += [(results_dir / "matrix.md", redact(markdown_report(cells)))]
    write_outputs(text, files, after="every cell is stored: run again to write the tables")
