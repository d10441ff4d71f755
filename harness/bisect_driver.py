"""Bisection over real releases: each probe is a stored-or-new cell, the search is the pure
core in ``harness.bisection``, and the answer says who changed it (compose or the SDK).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from harness.bisection import BisectResult, Kind, Observation, Status, bisect, classify_repeats
from harness.cell import CellSpec
from harness.pypi import Release
from harness.summary import verdict_phrase

COMPOSE, SDK = "docker-compose", "docker"
REPOSITORIES = {COMPOSE: "docker/compose", SDK: "docker/docker-py"}
TESTED = ("shared", "diverged")  # anything else means the probe could not be judged: skip


class Cells(Protocol):
    def get(self, spec: CellSpec, run: int = 0) -> tuple[dict[str, Any], bool]: ...


@dataclass(frozen=True)
class BisectRequest:
    """Which package moves between which bounds; every probe is ``cell`` with that version."""

    package: str  # docker-compose, or docker (the SDK, with cell.compose held)
    low: str
    high: str
    cell: CellSpec  # the held inputs: compose or sdk, scenario/project, cli_build, options
    repeat: int = 1

    def spec(self, version: str) -> CellSpec:
        """The cell that probes ``version`` of the moving package."""
        if self.package == COMPOSE:
            return replace(self.cell, compose=version)
        return replace(self.cell, sdk=version)


def behaviour(cell: Mapping[str, Any]) -> str | None:
    """What a probe compares: ``shared`` or ``diverged@N``; None when it could not be judged."""
    verdict = cell.get("verdict")
    if verdict not in TESTED:
        return None
    if verdict == "diverged":
        return f"diverged@{(cell.get('diverged_at') or {}).get('step', '?')}"
    return "shared"


def describe(value: object) -> str:
    text = str(value)
    return text.replace("diverged@", "diverged at step ") if text.startswith("diverged@") else text


def run_bisect(
    request: BisectRequest,
    versions: Sequence[Release],
    cells: Cells,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Search ``versions`` (PEP 440 order) and return the report as a JSON-ready dict."""
    probes: list[dict[str, Any]] = []

    def probe(index: int) -> Observation:
        version = versions[index].text
        runs = [cells.get(request.spec(version), run) for run in range(request.repeat)]
        observation = classify_repeats([behaviour(cell) for cell, _ in runs])
        first = runs[0][0]
        entry = {
            "version": version,
            "sdk": first.get("sdk") if request.package == COMPOSE else version,
            "compose": first.get("compose"),
            "verdict": _probe_verdict(observation),
            "runs": observation.agreement,
            "stored": all(reused for _, reused in runs),
            "detail": verdict_phrase(first),
            "diverged_at": first.get("diverged_at"),
            "cell": first,
        }
        probes.append(entry)
        source = "stored" if entry["stored"] else "built"
        log(
            f"probe {version} (SDK {entry['sdk']}): {describe(entry['verdict'])} "
            f"[{entry['runs']}, {source}]"
        )
        return observation

    outcome = bisect(len(versions), probe)
    report = _report(request, versions, outcome, probes)
    if outcome.status is Status.FOUND and request.package == COMPOSE:
        report["culprit"] = _culprit(request, report, cells, log)
    elif outcome.status is Status.FOUND:
        report["culprit"] = {"package": SDK, "reason": "only the docker SDK moved"}
    return report


def _probe_verdict(observation: Observation) -> str:
    if observation.kind is Kind.SKIP:
        return "skip"
    if observation.kind is Kind.FLAKY:
        return f"flaky ({describe(observation.verdict)} {observation.agreement})"
    return str(observation.verdict)


def _report(
    request: BisectRequest,
    versions: Sequence[Release],
    outcome: BisectResult,
    probes: list[dict[str, Any]],
) -> dict[str, Any]:
    def text(index: int | None) -> str | None:
        return versions[index].text if index is not None else None

    last_old, first_new = text(outcome.last_old), text(outcome.first_new)
    compare = None
    if last_old and first_new:
        compare = (
            f"https://github.com/{REPOSITORIES[request.package]}/compare/{last_old}...{first_new}"
        )
    reproduce = _reproduce(request, first_new or versions[-1].text)
    return {
        "schema": 1,
        "package": request.package,
        "status": outcome.status.value,
        "range": {
            "low": request.low,
            "high": request.high,
            "resolved": [versions[0].text, versions[-1].text],
            "count": len(versions),
        },
        "held": {"compose": request.cell.compose}
        if request.package == SDK
        else {"sdk": request.cell.sdk},
        "scenario": request.cell.scenario,
        "cli_build": request.cell.cli_build,
        "repeat": request.repeat,
        "last_old": last_old,
        "first_new": first_new,
        "old_verdict": describe(outcome.old_verdict) if outcome.old_verdict else None,
        "new_verdict": describe(outcome.new_verdict) if outcome.new_verdict else None,
        "candidates": [versions[i].text for i in outcome.candidates],
        "flaky": text(outcome.flaky),
        "reason": _reason(outcome, probes),
        "probes": probes,
        "builds": sum(1 for p in probes if not p["stored"]),
        "compare_url": compare,
        "reproduce": reproduce,
        "culprit": None,
    }


def _reason(outcome: BisectResult, probes: list[dict[str, Any]]) -> str | None:
    """The core speaks in indices; people need the releases and what went wrong with them."""
    if outcome.status is not Status.ERROR:
        return outcome.reason
    unjudged = [p for p in probes if p["verdict"] == "skip" or p["verdict"].startswith("flaky")]
    named = "; ".join(f"{p['version']} ({p['detail']})" for p in unjudged)
    return f"an end of the range could not be judged: {named}" if named else outcome.reason


def _reproduce(request: BisectRequest, version: str) -> str:
    spec = request.spec(version)
    parts = ["nox -s repro --", "--compose", spec.compose]
    if spec.sdk != "auto":
        parts += ["--sdk", spec.sdk]
    if spec.project:
        parts += ["--project", spec.project, "--service", spec.service or ""]
    elif spec.scenario != "seed":
        parts += ["--scenario", spec.scenario]
    if spec.cli_build != "default":
        parts += ["--cli-build", spec.cli_build]
    return " ".join(parts)


def _culprit(
    request: BisectRequest, report: dict[str, Any], cells: Cells, log: Callable[[str], None]
) -> dict[str, Any]:
    """Cross the SDKs of the two releases around the change: does it follow compose or SDK?"""
    by_version = {p["version"]: p for p in report["probes"]}
    old, new = by_version[report["last_old"]], by_version[report["first_new"]]
    if not old["sdk"] or not new["sdk"] or old["sdk"] == new["sdk"]:
        return {
            "package": COMPOSE,
            "reason": f"both releases ran with docker SDK {new['sdk']}: compose changed",
        }
    old_behaviour, new_behaviour = old["verdict"], new["verdict"]
    crosses = []
    for compose, sdk in ((old["version"], new["sdk"]), (new["version"], old["sdk"])):
        spec = replace(request.spec(compose), sdk=sdk)
        cell, _ = cells.get(spec)
        crosses.append(
            {
                "compose": compose,
                "sdk": sdk,
                "verdict": behaviour(cell) or "skip",
                "detail": verdict_phrase(cell),
            }
        )
        log(f"cross {compose} with SDK {sdk}: {describe(crosses[-1]['verdict'])}")
    old_with_new_sdk, new_with_old_sdk = (c["verdict"] for c in crosses)
    package, reason = _who(old_behaviour, new_behaviour, old_with_new_sdk, new_with_old_sdk)
    return {
        "package": package,
        "reason": reason,
        "crosses": crosses,
        "sdks": {"last_old": old["sdk"], "first_new": new["sdk"]},
    }


def _who(
    old: str, new: str, old_with_new_sdk: str, new_with_old_sdk: str
) -> tuple[str | None, str]:
    """Attribute the change from the two cross cells; one untestable cross still counts when
    the other is decisive (e.g. a newer compose that needs the newer SDK cannot run the old one).
    """
    follows_sdk = (old_with_new_sdk == new, new_with_old_sdk == old)
    follows_compose = (old_with_new_sdk == old, new_with_old_sdk == new)
    untested = "skip" in (old_with_new_sdk, new_with_old_sdk)
    note = " (the other cross cell could not be tested)" if untested else ""
    if all(follows_sdk) or (untested and any(follows_sdk)):
        return SDK, "the behaviour follows the docker SDK, whichever compose runs it" + note
    if all(follows_compose) or (untested and any(follows_compose)):
        return COMPOSE, "the behaviour follows docker-compose, whichever SDK it uses" + note
    return None, "the cross cells do not single out one package"
