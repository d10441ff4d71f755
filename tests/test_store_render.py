from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.app.store import ResultStore, cell_key, key_inputs
from harness.core.compat import Compat, Override, plan_install
from harness.core.model import (
    AppliedOverride,
    CauseStatus,
    CellResult,
    CellSpec,
    CliInfo,
    EngineInfo,
    ExplainCause,
)
from harness.edges.paths import redact
from harness.present.tables import markdown_report, table_summary, terminal_table
from tests.factories import cell_result

ENGINE = EngineInfo("20.10.24", "1.41", "overlay2", managed=False)
CLI = CliInfo("docker", "28.2.2")
CUTOFF = datetime(2018, 3, 20, tzinfo=UTC)


def key_for(**changes: object) -> str:
    inputs: dict[str, object] = {
        "spec": CellSpec(compose="1.20.0"),
        "plan": plan_install(Compat(), "1.20.0", "auto", "3.11.7", CUTOFF),
        "engine": ENGINE,
        "cli": CLI,
        "fixture": "abc",
    }
    return cell_key(key_inputs(**{**inputs, **changes}))  # type: ignore[arg-type]


def test_every_input_that_can_change_the_answer_changes_the_key() -> None:
    rule = Override("PyYAML", "PyYAML==6.0.1", "x")
    keys = [
        key_for(),
        key_for(spec=CellSpec(compose="1.20.0", cli_build="1")),
        key_for(spec=CellSpec(compose="1.20.0", scenario="root-owned")),
        key_for(spec=CellSpec(compose="1.20.0", order="cli-first")),
        key_for(spec=CellSpec(compose="1.20.0", uid=1001)),
        key_for(plan=plan_install(Compat(), "1.20.0", "3.1.4", "3.11.7", CUTOFF)),
        key_for(plan=plan_install(Compat((rule,)), "1.20.0", "auto", "3.11.7", CUTOFF)),
        key_for(plan=plan_install(Compat(), "1.20.0", "auto", "3.12.1", CUTOFF)),
        key_for(engine=EngineInfo("24.0.0", "1.43", "overlay2", managed=False)),
        key_for(engine=EngineInfo("20.10.24", "1.41", "vfs", managed=False)),
        key_for(cli=CliInfo("docker", "20.10.24")),
        key_for(fixture="def"),
    ]
    assert len(set(keys)) == len(keys)
    # where the engine runs (managed or not) and the CLI's path do not change an answer
    assert key_for(engine=EngineInfo("20.10.24", "1.41", "overlay2", managed=True)) == keys[0]
    assert key_for(cli=CliInfo("/elsewhere/docker", "28.2.2")) == keys[0]


def test_store_round_trip_is_atomic_and_checks_the_key(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "cells")
    assert store.get("k1") is None
    result = cell_result("1.20.0", "shared")
    store.put("k1", result)
    assert store.get("k1") == result.with_store_key("k1")
    assert [p.name for p in (tmp_path / "cells").iterdir()] == ["k1.json"]
    assert json.loads((tmp_path / "cells" / "k1.json").read_text())["verdict"] == "shared"
    (tmp_path / "cells" / "k2.json").write_text(json.dumps({"store_key": "other"}))
    assert store.get("k2") is None
    (tmp_path / "cells" / "k3.json").write_text("{truncated")
    assert store.get("k3") is None


def cell(compose: str, cli_build: str, verdict: str, step: int | None = None, **extra: Any):
    return cell_result(compose, verdict, step, sdk="3.1.3", cli_build=cli_build, **extra)


def test_tables_keep_version_strings_and_order_rows_by_pep440() -> None:
    cells = [
        cell("1.9.0", "default", "diverged", 3),
        cell("1.10.0", "default", "shared"),
        cell("1.10.0", "1", "uninstallable"),
        cell("1.1.0", "default", "error", sdk_in_range=False),
    ]
    text = terminal_table(cells)
    lines = text.splitlines()
    assert (
        "COMPOSE_DOCKER_CLI_BUILD unset" in lines[0] and "COMPOSE_DOCKER_CLI_BUILD =1" in lines[0]
    )
    rows = [line.split()[0] for line in lines[2:]]
    assert rows == ["1.1.0", "1.9.0", "1.10.0"]  # "1.10.0" is neither "1.1" nor sorted as text
    assert "1.1.0 (SDK 3.1.3 †)" in text
    assert "❌ step 3" in lines[3]
    assert "·" in lines[2]  # 1.1.0 has no cli_build=1 cell


def test_markdown_report_has_table_legend_steps_and_environment() -> None:
    rule = AppliedOverride("PyYAML", "PyYAML==6.0.1", "old PyYAML fails")
    cells = [
        cell("1.20.0", "default", "diverged", 3, overrides=(rule,)),
        cell("1.29.2", "1", "shared"),
    ]
    report = markdown_report(cells)
    assert "| 1.20.0 (SDK 3.1.3)" in report
    assert "|---" in report
    assert "✅ shared: the second build reused every step of the first · " in report
    assert "❌ step N: the cache missed at step N and every later step ran again" in report
    assert "- step 3: `ADD blah.txt /usr/src/blah.txt`" in report
    details = report[report.index("<details>") :]
    assert "Docker engine 20.10.24 (API 1.41, storage driver overlay2)" in details
    assert "docker CLI 28.2.2" in details and "Python 3.11.7" in details
    assert "override `PyYAML==6.0.1` (old PyYAML fails): compose 1.20.0" in details
    assert report.rstrip().endswith("</details>")


def test_explanations_are_listed_once_with_the_cells_they_explain() -> None:
    why = "blah.txt: uid 1000 vs 0, gid 1000 vs 0"
    cells = [
        cell(v, "default", "diverged", 3, explain_summary=(why,))
        for v in ("1.19.0", "1.20.1", "1.21.2", "1.22.0")
    ]
    cells.append(cell("1.23.2", "1", "diverged", 3, explain_summary=("only in compose's: x",)))
    report = markdown_report(cells)
    assert report.count(why) == 1
    assert f"- {why} (4 cells, compose 1.19.0–1.22.0)" in report
    assert "- only in compose's: x (compose 1.23.2, seed: COMPOSE_DOCKER_CLI_BUILD =1)" in report


def test_published_results_name_no_machine_folder(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CACHE_BISECT_HOME", str(tmp_path / "cache"))
    line = f"{tmp_path}/cache/venvs/compose-1.20.0/bin/python and {Path.home()}/.config"
    redacted = redact(line)
    assert str(tmp_path) not in redacted and str(Path.home()) not in redacted
    assert redacted == "$CACHE_BISECT_HOME/venvs/compose-1.20.0/bin/python and ~/.config"
    # another checkout's nox environment (the uv an install log names) is no place either
    uv = "/srv/checkouts/wt-x/.nox/_nox_script_mode/bin/uv pip install --python=/x/.nox/e/bin/py"
    assert redact(uv) == "$NOX_ENV/bin/uv pip install --python=$NOX_ENV/bin/py"


def test_cells_whose_cause_could_not_be_tested_for_one_reason_are_grouped_once() -> None:
    def untested(compose: str, first: str, other: str) -> CellResult:
        reason = (
            f"the first client's context, rebuilt as captured, gave step 3 another image "
            f"(sha256:{first}, not sha256:{other}): a rewritten context is not faithful"
        )
        cause = ExplainCause(
            CauseStatus.NOT_TESTED, builds=1, budget=16, seconds=0.5, reason=reason
        )
        return cell(compose, "default", "diverged", 3, explain_cause=cause)

    report = markdown_report([untested("2.39.4", "aaa", "bbb"), untested("2.40.3", "ccc", "ddd")])
    assert report.count("cause not tested") == 1
    assert "sha256:" not in report
    assert "(compose 2.39.4, seed: COMPOSE_DOCKER_CLI_BUILD unset; compose 2.40.3," in report


def test_a_table_summary_puts_the_missed_step_with_the_misses() -> None:
    cells = [cell("1.20.0", "default", "diverged", 3), cell("1.21.0", "default", "uninstallable")]
    assert table_summary(cells) == "2 cells: 1 missed it (at step 3), 1 could not be installed."
