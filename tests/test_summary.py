"""The human summary of one cell: what could not be installed, whose files, which date."""

from __future__ import annotations

from harness.core.model import Owner
from harness.present.summary import cell_summary
from harness.present.tables import environment_lines
from tests.factories import cell_result


def test_an_uninstallable_cell_says_what_could_not_be_installed() -> None:
    cell = cell_result("1.21.2", "uninstallable", sdk_requested="3.4.0", reason="error: no")
    lines = cell_summary(cell)
    assert lines[0] == (
        "docker-compose 1.21.2 with docker SDK 3.4.0 could not be installed on Python 3.11.7"
    )
    assert not any("not installed" in line for line in lines)
    auto = cell_summary(cell_result("1.19.0", "uninstallable"))
    assert "with the docker SDK it resolves to could not be installed" in auto[0]


def test_every_owner_in_the_context_is_reported() -> None:
    cell = cell_result(
        "1.27.4",
        "diverged",
        owner=Owner(0, 0),
        owners=("0:0", "1000:1000"),
        cutoff="2018-06-18T23:23:05+00:00",
        cutoff_from="docker 3.4.0",
    )
    lines = cell_summary(cell)
    assert "build context files owned by 0:0, 1000:1000" in lines
    assert "dependencies as of 2018-06-18T23:23:05+00:00 (docker 3.4.0's upload date)" in lines
    older = cell_result("1.20.0", "shared", owner=Owner(1000, 1000))
    environment = environment_lines([cell, older])
    assert any("build context files owned by 0:0, 1000:1000" in line for line in environment)
