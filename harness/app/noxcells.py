"""Cell ids for the noxfile's per-cell sessions, from matrix.toml and the cached release list.

Evaluated when nox loads the noxfile, so it must never fail: any problem (no network and no
cache, a bad matrix.toml) yields no per-cell sessions, and `nox -s matrix` reports the error.
"""

from __future__ import annotations

from pathlib import Path

from harness.core.matrix import cell_id


def matrix_cell_ids(config_path: Path) -> list[str]:
    try:
        from harness.app.releases import Releases, matrix_cells
        from harness.core.config import load_config
        from harness.edges.index import ReleaseIndex
        from harness.edges.paths import cache_dir

        releases = Releases(ReleaseIndex(cache_dir()), log=lambda line: None)
        cells = matrix_cells(load_config(config_path), releases)
    except Exception:
        return []
    return [cell_id(spec) for spec in cells]
