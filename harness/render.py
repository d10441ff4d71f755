"""Result tables (pure): a terminal table and a GitHub markdown report from cell results.

Rows are compose releases (with the docker SDK each resolved to), columns are conditions
(scenario, COMPOSE_DOCKER_CLI_BUILD), cells are a mark per verdict plus the step that missed.
Version strings are never parsed as numbers: "1.10" stays "1.10".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from packaging.version import Version
from tabulate import tabulate

from harness import __version__

Cell = Mapping[str, Any]

MARKS = {
    "shared": "✅ shared",
    "diverged": "❌ step {step}",
    "uninstallable": "⛔ uninstallable",
    "error": "⚠️ error",
    "timeout": "⏳ timeout",
}
NOT_RUN = "·"
LEGEND = (
    "✅ shared: the second build reused every step of the first · "
    "❌ step N: the cache missed at step N and every later step ran again · "
    "⛔ the release cannot be installed on this Python · ⚠️ a build failed · "
    "⏳ a build timed out · † docker SDK outside the range the compose release declares"
)


def mark(cell: Cell) -> str:
    verdict = str(cell.get("verdict"))
    template = MARKS.get(verdict, verdict)
    step = (cell.get("diverged_at") or {}).get("step", "?")
    return template.format(step=step)


def condition_of(cell: Cell) -> tuple[str, str]:
    return (str(cell.get("scenario", "seed")), str(cell.get("cli_build", "default")))


def condition_label(condition: tuple[str, str], with_scenario: bool) -> str:
    scenario, cli_build = condition
    setting = "unset" if cli_build == "default" else f"={cli_build}"
    label = f"COMPOSE_DOCKER_CLI_BUILD {setting}"
    return f"{scenario}: {label}" if with_scenario else label


def _row_key(cell: Cell) -> tuple[Version, str]:
    return (Version(str(cell["compose"])), str(cell.get("sdk_requested", "auto")))


def _row_label(cells: Sequence[Cell]) -> str:
    compose = cells[0]["compose"]
    sdk = next((c.get("sdk") for c in cells if c.get("sdk")), None)
    requested = cells[0].get("sdk_requested", "auto")
    dagger = " †" if any(c.get("sdk_in_range") is False for c in cells) else ""
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

    def distinct(pick) -> str:
        return ", ".join(sorted({str(pick(c)) for c in cells if pick(c) is not None})) or "?"

    engine = distinct(lambda c: (c.get("engine") or {}).get("version"))
    api = distinct(lambda c: (c.get("engine") or {}).get("api_version"))
    driver = distinct(lambda c: (c.get("engine") or {}).get("storage_driver"))
    cli = distinct(lambda c: (c.get("cli") or {}).get("version"))
    python = distinct(lambda c: c.get("python"))
    owners = distinct(
        lambda c: f"{c['owner']['uid']}:{c['owner']['gid']}" if c.get("owner") else None
    )
    lines = [
        f"- Docker engine {engine} (API {api}, storage driver {driver})",
        f"- reference builder: docker CLI {cli}, legacy builder (`DOCKER_BUILDKIT=0`)",
        f"- Python {python}; build context files owned by {owners}",
        f"- order: {distinct(lambda c: ' then '.join(c.get('order') or []))}",
        f"- harness {__version__}",
    ]
    overrides: dict[str, list[str]] = {}
    for cell in cells:
        for rule in cell.get("overrides") or []:
            overrides.setdefault(f"`{rule['requirement']}` ({rule['reason']})", []).append(
                str(cell["compose"])
            )
    for rule, versions in overrides.items():
        ordered = sorted(set(versions), key=Version)
        lines.append(f"- override {rule}: compose {', '.join(ordered)}")
    return lines


def explained(cells: Sequence[Cell]) -> list[tuple[str, str]]:
    """Each distinct explanation of a diverged cell, with the cells it explains."""
    by_reason: dict[str, list[Cell]] = {}
    for cell in cells:
        for line in cell.get("explain_summary") or []:
            by_reason.setdefault(line, []).append(cell)
    return [(why, _where(group)) for why, group in by_reason.items()]


def _where(group: Sequence[Cell]) -> str:
    if len(group) <= 3:
        return "; ".join(
            f"compose {c['compose']}, {condition_label(condition_of(c), True)}" for c in group
        )
    versions = sorted({str(c["compose"]) for c in group}, key=Version)
    return f"{len(group)} cells, compose {versions[0]}–{versions[-1]}"


def markdown_report(
    cells: Sequence[Cell], title: str = "docker-compose build vs docker build: layer cache"
) -> str:
    """The GitHub-ready report: title, table, legend, diverged steps, environment."""
    headers, body = table_rows(cells)
    table = tabulate(body, headers=headers, tablefmt="github", disable_numparse=True)
    steps = sorted(
        {
            (c["diverged_at"]["step"], c["diverged_at"]["instruction"])
            for c in cells
            if c.get("diverged_at")
        }
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
