"""Shard manifests written after a ``--shard`` run, and ``--merge``: the shards' stored cells
combined into one matrix, after checking they are this matrix's cells from this harness."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from harness import __version__
from harness.app.store import ResultStore
from harness.core.errors import UserError
from harness.core.matrix import cell_id
from harness.core.model import CellResult, CellSpec, ResultFormatError
from harness.core.shards import ManifestEntry, Shard, ShardManifest, matrix_digest
from harness.edges.files import write_atomically
from harness.edges.paths import redact


def write_manifest(
    results_dir: Path,
    shard: Shard,
    matrix: Sequence[CellSpec],
    ran: Sequence[CellSpec],
    results: Sequence[CellResult],
    config: str,
) -> Path:
    """RESULTS/shard-K-of-N.json: which cells this shard answered, by store key."""
    manifest = ShardManifest(
        shard=shard,
        matrix=matrix_digest(matrix),
        harness=__version__,
        config=config,
        cells=tuple(
            ManifestEntry(cell_id(spec), result.store_key)
            if result.store_key
            else ManifestEntry(cell_id(spec), None, result)
            for spec, result in zip(ran, results, strict=True)
        ),
    )
    path = results_dir / shard.file_name
    # uploaded and merged elsewhere: a failed cell's words name no place on this machine
    write_atomically(path, redact(json.dumps(manifest.to_json(), indent=1) + "\n"))
    return path


def _manifests(folder: Path) -> list[tuple[Path, ShardManifest]]:
    paths = sorted(folder.glob("shard-*-of-*.json"))
    if not paths:
        raise UserError(f"{folder}: no shard-K-of-N.json here: not the results of a --shard run")
    found = []
    for path in paths:
        try:
            found.append((path, ShardManifest.from_json(json.loads(path.read_text()))))
        except (OSError, ValueError, ResultFormatError) as error:
            raise UserError(f"{path}: not a shard manifest ({error})") from None
    return found


def merge_shards(
    folders: Sequence[Path], matrix: Sequence[CellSpec], into: ResultStore | None = None
) -> list[CellResult]:
    """The cells of ``matrix`` from the shards' folders, in matrix order (copied ``into``)."""
    digest = matrix_digest(matrix)
    found: dict[str, tuple[Path, ManifestEntry]] = {}
    shards: set[Shard] = set()
    for folder in folders:
        for path, manifest in _manifests(folder):
            if manifest.harness != __version__:
                raise UserError(
                    f"{path}: cells of harness {manifest.harness}, this is {__version__}: "
                    "run that shard again"
                )
            if manifest.matrix != digest:
                raise UserError(
                    f"{path}: cells of a different matrix (config {manifest.config}): merge "
                    "shards of the matrix given by --config, expanded against today's releases"
                )
            shards.add(manifest.shard)
            for entry in manifest.cells:
                if entry.cell in found:
                    raise UserError(f"cell {entry.cell} is in two shards ({path})")
                found[entry.cell] = (folder, entry)
    missing = [cell_id(spec) for spec in matrix if cell_id(spec) not in found]
    if missing:
        have = ", ".join(str(shard) for shard in sorted(shards))
        raise UserError(f"{len(missing)} cells are in no shard given ({have}): {missing[0]}, ...")
    return [_load(spec, *found[cell_id(spec)], into) for spec in matrix]


def _load(
    spec: CellSpec, folder: Path, entry: ManifestEntry, into: ResultStore | None
) -> CellResult:
    if entry.key is None:
        if entry.result is None:
            raise UserError(f"{folder}: cell {entry.cell}: neither a store key nor a result")
        cell = entry.result
    else:
        stored = ResultStore(folder / "cells").get(entry.key)
        if stored is None:
            raise UserError(f"{folder}: cell {entry.cell}: no stored cell {entry.key}.json")
        cell = stored
        if into is not None:
            into.put(entry.key, cell)
    if cell.harness != __version__:
        raise UserError(f"{folder}: cell {entry.cell} comes from harness {cell.harness}")
    scenario = cell.scenario if spec.project else spec.scenario  # a project's own name
    seen = (cell.compose, cell.sdk_requested, cell.scenario, cell.cli_build)
    if seen != (spec.compose, spec.sdk, scenario, spec.cli_build):
        raise UserError(f"{folder}: the cell stored as {entry.cell} is another cell: {seen}")
    return cell
