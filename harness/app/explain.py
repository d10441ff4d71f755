"""Why a cell diverged: the two build contexts as the clients sent them, diffed field by field
for the files the diverged step reads (captured by ``harness.edges.recorder``)."""

from __future__ import annotations

from pathlib import Path

from harness.core.httpcapture import contexts_in
from harness.core.tardiff import diff_entries, read_entries, sources_filter, summarize


def explain(
    compose_capture: Path, cli_capture: Path, instruction: str
) -> tuple[list[dict[str, object]], list[str]]:
    """The differences (JSON) and a readable summary; the last build request of each capture
    is the one that built (a client may retry)."""
    compose_builds, cli_builds = contexts_in(compose_capture), contexts_in(cli_capture)
    if not compose_builds or not cli_builds:
        missing = "docker-compose" if not compose_builds else "docker build"
        return [], [f"no build context was captured from {missing}"]
    differences = diff_entries(
        read_entries(compose_builds[-1].body),
        read_entries(cli_builds[-1].body),
        sources_filter(instruction),
    )
    summary = summarize(differences) or [
        f"the files `{instruction}` reads are identical in both contexts"
    ]
    return [dict(difference.as_json()) for difference in differences], summary
