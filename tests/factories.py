"""Cell results for tests that need no engine, made with the same constructor a cell uses."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from harness.app.bisect import COMPOSE, BisectRequest, run_bisect
from harness.core.model import CellResult, CellSpec, CliInfo, EngineInfo, Owner, StepRef, Verdict
from harness.core.releases import Release
from harness.core.report import BisectReport

ENGINE = EngineInfo("20.10.24", "1.41", "overlay2", managed=False)
CLI = CliInfo("docker", "28.2.2")


def cell_result(
    compose: str,
    verdict: str,
    step: int | None = None,
    *,
    sdk: str | None = "auto-sdk",
    cli_build: str = "default",
    scenario: str = "seed",
    instruction: str = "ADD blah.txt /usr/src/blah.txt",
    **extra: Any,
) -> CellResult:
    """A result as a cell would record it; ``extra`` sets any other field."""
    diverged = StepRef(step if step is not None else 3, instruction)
    fields: dict[str, Any] = {
        "compose": compose,
        "sdk": None if verdict == "uninstallable" else sdk,
        "sdk_requested": "auto",
        "python": "3.11.7",
        "engine": ENGINE,
        "cli": CLI,
        "scenario": scenario,
        "cli_build": cli_build,
        "order": ("compose", "cli"),
        "uid": 1000,
        "gid": 1000,
        "verdict": Verdict(verdict),
        "started_at": "2026-11-28T00:00:00+00:00",
        "diverged_at": diverged if verdict == "diverged" else None,
        "reason": "installer failed" if verdict == "uninstallable" else None,
        "owner": Owner(1000, 1000),
    }
    return CellResult(**{**fields, **extra})


VERSIONS = [
    Release.of(v, datetime(2018, 3, 1, tzinfo=UTC))
    for v in ("1.20.0", "1.20.1", "1.21.0", "1.21.1", "1.21.2", "1.22.0")
]
SDK_OF = {
    "1.20.0": "3.1.3",
    "1.20.1": "3.1.4",
    "1.21.0": "3.2.1",
    "1.21.1": "3.3.0",
    "1.21.2": "3.3.0",
    "1.22.0": "3.4.1",
}


class ScriptedCells:
    """Verdicts from a function of (compose, sdk); records every request like a store would."""

    def __init__(self, verdict_of: Callable[[str, str, int], str]) -> None:
        self.verdict_of = verdict_of
        self.asked: list[tuple[str, str, int]] = []

    def get(self, spec: CellSpec, run: int = 0) -> tuple[CellResult, bool]:
        sdk = SDK_OF.get(spec.compose, "?") if spec.sdk == "auto" else spec.sdk
        self.asked.append((spec.compose, spec.sdk, run))
        verdict = self.verdict_of(spec.compose, sdk, run)
        return cell_result(spec.compose, verdict, sdk=sdk, instruction="ADD"), False


def bisect_report(
    verdict_of: Callable[[str, str, int], str],
    *,
    repeat: int = 1,
    low: str = "1.20",
    high: str = "1.22",
) -> BisectReport:
    """A real bisection (the driver and the pure core) over scripted cells."""
    request = BisectRequest(COMPOSE, low, high, CellSpec(compose=""), repeat)
    return run_bisect(request, VERSIONS, ScriptedCells(verdict_of), log=lambda line: None)
