"""Cell ids for the noxfile's per-cell sessions, from matrix.toml and the cached release list.

Evaluated when nox loads the noxfile, so it must never fail: any problem (no network and no
cache, a bad matrix.toml) yields no per-cell sessions, and `nox -s matrix` reports the error.
"""

from __future__ import annotations

from pathlib import Path

from harness.core.matrix import cell_id, expand_matrix


def matrix_cell_ids(config_path: Path) -> list[str]:
    try:
        from harness.core.config import load_config
        from harness.core.flavour import V2_PACKAGE, compose_releases
        from harness.core.releases import COMPOSE, SDK
        from harness.edges.fixtures import load_scenarios
        from harness.edges.index import ReleaseIndex
        from harness.edges.paths import cache_dir

        config = load_config(config_path)
        index = ReleaseIndex(cache_dir())
        explicit_sdk = any(sdk != "auto" for sdk in config.sdk)
        cells = expand_matrix(
            config,
            compose_releases(index.releases(COMPOSE).releases, index.releases(V2_PACKAGE).releases),
            index.releases(SDK).releases if explicit_sdk else [],
            load_scenarios(),
        )
    except Exception:
        return []
    return [cell_id(spec) for spec in cells]
