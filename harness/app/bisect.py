"""Bisection over real releases: each probe is a stored-or-new cell, the search is the pure
core in ``harness.core.bisection``, and the answer says who changed it (compose or the SDK).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from harness.core.bisection import BisectResult, Kind, Observation, Status, bisect, classify_repeats
from harness.core.flavour import is_v2
from harness.core.model import Behaviour, CellResult, CellSpec
from harness.core.releases import Release
from harness.core.report import BisectReport, Cross, Culprit, Probe
from harness.present.words import cross_text, diverged_phrase, observation_text, verdict_phrase

COMPOSE, SDK = "docker-compose", "docker"
REPOSITORIES = {COMPOSE: "docker/compose", SDK: "docker/docker-py"}


class Cells(Protocol):
    def get(self, spec: CellSpec, run: int = 0) -> tuple[CellResult, bool]: ...


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


def run_bisect(
    request: BisectRequest,
    versions: Sequence[Release],
    cells: Cells,
    log: Callable[[str], None] = print,
) -> BisectReport:
    """Search ``versions`` (PEP 440 order) and return the report."""
    probes: list[Probe] = []

    def probe(index: int) -> Observation:
        version = versions[index].text
        runs = [cells.get(request.spec(version), run) for run in range(request.repeat)]
        observation = classify_repeats([Behaviour.of(cell) for cell, _ in runs])
        first = runs[0][0]
        entry = Probe(
            version=version,
            sdk=first.sdk if request.package == COMPOSE else version,
            compose=first.compose,
            observation=observation,
            stored=all(reused for _, reused in runs),
            detail=verdict_phrase(first),
            diverged_at=first.diverged_at,
            cell=first,
        )
        probes.append(entry)
        source = "stored" if entry.stored else "built"
        sdk = f" (SDK {entry.sdk})" if entry.sdk else ""
        where = diverged_phrase(first) if entry.behaviour is not None else None
        outcome = where or observation_text(observation, entry.detail)
        log(f"probe {version}{sdk}: {outcome} [{entry.runs}, {source}]")
        return observation

    outcome = bisect(len(versions), probe)
    culprit = None
    if outcome.status is Status.FOUND and request.package == COMPOSE:
        culprit = _culprit(request, versions, outcome, probes, cells, log)
    elif outcome.status is Status.FOUND:
        culprit = Culprit(SDK, "only the docker SDK moved")
    return _report(request, versions, outcome, tuple(probes), culprit)


def _report(
    request: BisectRequest,
    versions: Sequence[Release],
    outcome: BisectResult,
    probes: tuple[Probe, ...],
    culprit: Culprit | None,
) -> BisectReport:
    def text(index: int | None) -> str | None:
        return versions[index].text if index is not None else None

    last_old, first_new = text(outcome.last_old), text(outcome.first_new)
    compare = None
    if last_old and first_new:
        compare = (
            f"https://github.com/{REPOSITORIES[request.package]}/compare/"
            f"{_tag(request.package, last_old)}...{_tag(request.package, first_new)}"
        )
    return BisectReport(
        package=request.package,
        status=outcome.status,
        low=request.low,
        high=request.high,
        resolved=(versions[0].text, versions[-1].text),
        count=len(versions),
        held={"compose": request.cell.compose}
        if request.package == SDK
        else {"sdk": request.cell.sdk},
        scenario=request.cell.scenario,
        cli_build=request.cell.cli_build,
        builder=request.cell.builder,
        repeat=request.repeat,
        last_old=last_old,
        first_new=first_new,
        old_verdict=_behaviour(outcome.old_verdict),
        new_verdict=_behaviour(outcome.new_verdict),
        candidates=tuple(versions[i].text for i in outcome.candidates),
        flaky=text(outcome.flaky),
        reason=_reason(outcome, probes),
        probes=probes,
        builds=sum(1 for p in probes if not p.stored),
        compare_url=compare,
        reproduce=_reproduce(request, first_new or versions[-1].text),
        reproduce_old=_reproduce(request, last_old) if last_old else None,
        culprit=culprit,
    )


def _tag(package: str, version: str) -> str:
    """docker/compose tags 2.x releases with a leading v (v2.20.2), 1.x without."""
    return f"v{version}" if package == COMPOSE and is_v2(version) else version


def _behaviour(verdict: object) -> Behaviour | None:
    return verdict if isinstance(verdict, Behaviour) else None


def _reason(outcome: BisectResult, probes: Sequence[Probe]) -> str | None:
    """The core speaks in indices; people need the releases and what went wrong with them."""
    if outcome.status is not Status.ERROR:
        return outcome.reason
    unjudged = [p for p in probes if p.observation.kind is not Kind.VERDICT]
    named = "; ".join(f"{p.version} ({p.detail})" for p in unjudged)
    return f"an end of the range could not be judged: {named}" if named else outcome.reason


def _reproduce(request: BisectRequest, version: str) -> str:
    spec = request.spec(version)
    parts = ["nox -s repro --", "--compose", spec.compose]
    if spec.sdk != "auto":
        parts += ["--sdk", spec.sdk]
    if spec.project:
        # by its folder's name: the line is published, where the project lies is not
        parts += ["--project", Path(spec.project).name, "--service", spec.service or ""]
    elif spec.scenario != "seed":
        parts += ["--scenario", spec.scenario]
    if spec.cli_build != "default":
        parts += ["--cli-build", spec.cli_build]
    if not spec.builder.legacy:
        parts += ["--builder", str(spec.builder)]
    for option, version in (("--engine", spec.engine), ("--cli", spec.cli)):
        parts += [option, version] if version else []
    return " ".join(parts)


def _culprit(
    request: BisectRequest,
    versions: Sequence[Release],
    outcome: BisectResult,
    probes: Sequence[Probe],
    cells: Cells,
    log: Callable[[str], None],
) -> Culprit:
    """Cross the SDKs of the two releases around the change: does it follow compose or SDK?"""
    assert outcome.last_old is not None and outcome.first_new is not None
    by_version = {p.version: p for p in probes}
    old = by_version[versions[outcome.last_old].text]
    new = by_version[versions[outcome.first_new].text]
    if old.sdk is None and new.sdk is None:
        return Culprit(COMPOSE, "compose 2.x has no docker SDK: compose changed")
    if not old.sdk or not new.sdk or old.sdk == new.sdk:
        return Culprit(COMPOSE, f"both releases ran with docker SDK {new.sdk}: compose changed")
    crosses = []
    for compose, sdk in ((old.version, new.sdk), (new.version, old.sdk)):
        cell, _ = cells.get(replace(request.spec(compose), sdk=sdk))
        crosses.append(Cross(compose, sdk, Behaviour.of(cell), verdict_phrase(cell)))
        log(f"cross {compose} with SDK {sdk}: {cross_text(crosses[-1])}")
    old_with_new_sdk, new_with_old_sdk = (c.behaviour for c in crosses)
    package, reason = _who(old.behaviour, new.behaviour, old_with_new_sdk, new_with_old_sdk)
    return Culprit(package, reason, tuple(crosses), {"last_old": old.sdk, "first_new": new.sdk})


Shown = Behaviour | None  # None: could not be judged


def _who(
    old: Shown, new: Shown, old_with_new_sdk: Shown, new_with_old_sdk: Shown
) -> tuple[str | None, str]:
    """Attribute the change from the two cross cells; one untestable cross still counts when
    the other is decisive (e.g. a newer compose that needs the newer SDK cannot run the old one).
    """

    def same(cross: Shown, probe: Shown) -> bool:
        return cross is not None and cross == probe

    follows_sdk = (same(old_with_new_sdk, new), same(new_with_old_sdk, old))
    follows_compose = (same(old_with_new_sdk, old), same(new_with_old_sdk, new))
    untested = None in (old_with_new_sdk, new_with_old_sdk)
    note = " (the other cross cell could not be tested)" if untested else ""
    if all(follows_sdk) or (untested and any(follows_sdk)):
        return SDK, "the behaviour follows the docker SDK, whichever compose runs it" + note
    if all(follows_compose) or (untested and any(follows_compose)):
        return COMPOSE, "the behaviour follows docker-compose, whichever SDK it uses" + note
    return None, "the cross cells do not single out one package"
