"""Labels that mark what the harness created, so it deletes only that."""

from __future__ import annotations

from harness import __version__

HARNESS = "io.github.cache-bisect.harness"
CELL = "io.github.cache-bisect.cell"


def cell_labels(cell_id: str) -> dict[str, str]:
    return {HARNESS: __version__, CELL: cell_id}


def cell_filter(cell_id: str) -> dict[str, str]:
    return {"label": f"{CELL}={cell_id}"}
