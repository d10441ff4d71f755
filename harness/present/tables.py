"""Result tables: a terminal table and a GitHub markdown report from cell results.

Rows are compose releases (with the docker SDK each resolved to), columns are conditions
(scenario, COMPOSE_DOCKER_CLI_BUILD), cells are a mark per verdict plus the step that missed.
Version strings are never parsed as numbers: "1.10" stays "1.10".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from packaging.version import Version
from tabulate import tabulate

from harness import __version__
from harness.core.model import CellResult
from harness.present.words import LEGEND, NOT_RUN, cli_build_label, mark

Cell = CellResult


def condition_of(cell: Cell) -> tuple[str, str]:
    return (cell.scenario, cell.cli_build)


def condition_label(condition: tuple[str, str], with_scenario: bool) -> str:
    scenario, cli_build = condition
    label = cli_build_label(cli_build)
    return f"{scenario}: {label}" if with_scenario else label


def _row_key(cell: Cell) -> tuple[Version, str]:
    return (Version(cell.compose), cell.sdk_requested)


def _row_label(cells: Sequence[Cell]) -> str:
    compose = cells[0].compose
    sdk = next((c.sdk for c in cells if c.sdk), None)
    requested = cells[0].sdk_requested
    dagger = " †" if any(c.sdk_in_range is False for c in cells) else ""
    if sdk is None:
        return f"{compose} (SDK {requested})" if requested != "auto" else str(compose)
    return f"{compose} (SDK {sdk}{dagger})"


def table_rows(cells: Iterable[Cell]) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of the matrix table."""
    cells = list(cells)
    conditions = list(dict.fromkeys(condition_of(cell) for cell in cells))
    with_scenario = len({scenario for scenario, _ in conditions}) > 1
    rows: dict[tuple[Version, str], dict[tuple[str, str], Cell]] = {}
    for cell in cells:
        rows.setdefault(_row_key(cell), {})[condition_of(cell)] = cell
    headers = ["docker-compose (docker SDK)"] + [
        condition_label(condition, with_scenario) for condition in conditions
    ]
    body = []
    for key in sorted(rows):
        by_condition = rows[key]
        label = _row_label(list(by_condition.values()))
        body.append(
            [label] + [mark(by_condition[c]) if c in by_condition else NOT_RUN for c in conditions]
        )
    return headers, body


def terminal_table(cells: Iterable[Cell]) -> str:
    headers, body = table_rows(cells)
    return tabulate(body, headers=headers, tablefmt="simple", disable_numparse=True)


def environment_lines(cells: Sequence[Cell]) -> list[str]:
    """The engine, CLI, Python, owners, order, harness and overrides behind these cells."""

    def distinct(pick: Callable[[Cell], object]) -> str:
        return ", ".join(sorted({str(pick(c)) for c in cells if pick(c) is not None})) or "?"

    engine = distinct(lambda c: c.engine.version)
    api = distinct(lambda c: c.engine.api_version)
    driver = distinct(lambda c: c.engine.storage_driver)
    cli = distinct(lambda c: c.cli.version)
    python = distinct(lambda c: c.python)
    owners = (
        ", ".join(
            sorted(
                {o for c in cells for o in c.owners or _dockerfile_owner(c)},
                key=lambda o: tuple(int(n) for n in o.split(":")),
            )
        )
        or "?"
    )
    lines = [
        f"- Docker engine {engine} (API {api}, storage driver {driver})",
        f"- reference builder: docker CLI {cli}, legacy builder (`DOCKER_BUILDKIT=0`)",
        f"- Python {python}; build context files owned by {owners}",
        f"- order: {distinct(lambda c: ' then '.join(c.order))}",
        f"- harness {__version__}",
    ]
    overrides: dict[str, list[str]] = {}
    for cell in cells:
        for rule in cell.overrides:
            overrides.setdefault(f"`{rule['requirement']}` ({rule['reason']})", []).append(
                cell.compose
            )
    for described, versions in overrides.items():
        ordered = sorted(set(versions), key=Version)
        lines.append(f"- override {described}: compose {', '.join(ordered)}")
    return lines


def explained(cells: Sequence[Cell]) -> list[tuple[str, str]]:
    """Each distinct explanation of a diverged cell, with the cells it explains."""
    by_reason: dict[str, list[Cell]] = {}
    for cell in cells:
        for line in cell.explain_summary or ():
            by_reason.setdefault(line, []).append(cell)
    return [(why, _where(group)) for why, group in by_reason.items()]


def _where(group: Sequence[Cell]) -> str:
    if len(group) <= 3:
        return "; ".join(
            f"compose {c.compose}, {condition_label(condition_of(c), True)}" for c in group
        )
    versions = sorted({c.compose for c in group}, key=Version)
    return f"{len(group)} cells, compose {versions[0]}–{versions[-1]}"


def markdown_report(
    cells: Sequence[Cell], title: str = "docker-compose build vs docker build: layer cache"
) -> str:
    """The GitHub-ready report: title, table, legend, diverged steps, environment."""
    headers, body = table_rows(cells)
    table = tabulate(body, headers=headers, tablefmt="github", disable_numparse=True)
    steps = sorted(
        {(c.diverged_at.step, c.diverged_at.instruction) for c in cells if c.diverged_at}
    )
    parts = [f"## {title}", "", table, "", LEGEND]
    if steps:
        parts += [""] + [f"- step {step}: `{text}`" for step, text in steps]
    reasons = explained(cells)
    if reasons:
        parts += ["", "What differed in the build contexts the two clients sent:", ""]
        parts += [f"- {why} ({where})" for why, where in reasons]
    parts += [
        "",
        "<details><summary>Environment</summary>",
        "",
        *environment_lines(cells),
        "",
        "</details>",
        "",
    ]
    return "\n".join(parts)


def _dockerfile_owner(cell: Cell) -> tuple[str, ...]:
    """A result from before owners were recorded knows the Dockerfile's owner only."""
    return (f"{cell.owner['uid']}:{cell.owner['gid']}",) if cell.owner else ()
