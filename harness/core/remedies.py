"""Which remedies a diverged cell can try, in the order a user would rather apply them, and
which one to recommend. Pure: the trials are cells (a changed :class:`CellSpec`, sometimes
another reference CLI) that ``harness.app.remedies`` runs on the engine; a remedy's verdict is
what that run showed, never something decided here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from packaging.version import InvalidVersion, Version

from harness.core.buildkind import Builder, Builders
from harness.core.dockerfile import takes_chown
from harness.core.flavour import compose_buildkit_problem, is_v2
from harness.core.mirror import (
    MIRRORS,
    MirrorError,
    RequestCause,
    cli_flags,
    request_causes,
    shell_words,
)
from harness.core.model import CauseStatus, CellResult, CellSpec, CliInfo, Verdict
from harness.core.remedy import MISSES, NOT_TRIED, SHARES, Remedy

# Cheapest first: an environment variable; for a request parameter proven to cause the miss,
# the same flag on docker build (the compose file stays as it is), then the compose build key
# removed; a Dockerfile line, a builder switch, a checkout made as root, another docker CLI,
# both of those, another compose release.
KINDS = (
    "cli-build",
    "cli-flag",
    "compose-key",
    "chown",
    "buildkit",
    "root-owned",
    "cli",
    "root-owned+cli",
    "release",
)
ROOT = "0:0"
CLI_BUILD_SINCE = Version("1.25")  # docker-compose's COMPOSE_DOCKER_CLI_BUILD
CLI_BUILD_DEFAULT = Version("1.28")  # ... and the default from here on
BUILDKIT = Builders(Builder.BUILDKIT, Builder.BUILDKIT)
# Docker CLIs a remedy fetches by version (as --cli VERSION does): one from before Docker 23,
# whose tar headers carry the file-type bits in the mode, and one of today.
REMEDY_CLIS = ("20.10", "28.5")


@dataclass(frozen=True)
class Trial:
    """One remedy to try: the cell to run (``spec``, with ``cli`` as the reference CLI when
    set), or, when it cannot be tried here, ``reason``."""

    kind: str
    remedy: str
    spec: CellSpec | None = None
    cli: CliInfo | None = None
    reason: str | None = None
    changes: Mapping[str, str] = field(default_factory=dict)

    def not_tried(self) -> Remedy:
        return Remedy(self.kind, self.remedy, NOT_TRIED, reason=self.reason, changes=self.changes)


def trials(spec: CellSpec, cell: CellResult, clis: Sequence[CliInfo] = ()) -> list[Trial]:
    """The remedies a diverged ``cell`` (run as ``spec``) can try, cheapest first, except
    another compose release (see :func:`release_trial`); ``clis`` are the other docker CLIs
    at hand. A cell that did not diverge needs none."""
    if cell.verdict is not Verdict.DIVERGED:
        return []
    found: list[Trial] = []
    v1 = not is_v2(spec.compose)
    if v1 and not _on_cli_build(spec.compose, spec.cli_build):
        found.append(_cli_build(spec))
    found += request_trials(spec, cell)
    step = cell.diverged_at.instruction if cell.diverged_at else ""
    if step and takes_chown(step) and spec.chown is None:
        found.append(
            Trial(
                "chown",
                f"add --chown={ROOT} to every ADD and COPY of the build context",
                replace(spec, chown=ROOT),
                changes={"dockerfile": f"ADD/COPY --chown={ROOT}"},
            )
        )
    if spec.builder != BUILDKIT:
        found.append(_buildkit(spec))
    root = _root_owned(spec, cell)
    if root is not None:
        found.append(root)
    by_version = {other.version: other for other in clis}
    others = [other for version, other in by_version.items() if version != cell.cli.version]
    for other in others:
        found.append(
            Trial(
                "cli",
                cli_line(other.version),
                replace(spec, cli=""),  # the CLI is the trial's, not a provisioned one
                cli=other,
                changes={"cli": other.version},
            )
        )
    if root is not None and root.spec is not None:
        for other in others:
            found.append(
                Trial(
                    "root-owned+cli",
                    f"check out as root (files owned {ROOT}) and run docker build with docker "
                    f"CLI {other.version}",
                    replace(root.spec, cli=""),
                    cli=other,
                    changes={**root.changes, "cli": other.version},
                )
            )
    return found


def request_trials(spec: CellSpec, cell: CellResult) -> list[Trial]:
    """For each build request parameter in the proven cause (explain): ``docker build`` with
    the flag that sends docker-compose's value, and compose without the build key that sends
    it. Without a proven cause (no explain, or not proven) there is none to mirror."""
    cause = cell.explain_cause
    if cause is None or cause.status is not CauseStatus.PROVEN:
        return []
    found: list[Trial] = []
    for request in request_causes(cause.minimal):
        found += _mirror_trials(spec, request)
    return found


def _mirror_trials(spec: CellSpec, request: RequestCause) -> list[Trial]:
    mirror = MIRRORS.get(request.name)
    changes = {"request": request.name}
    if mirror is None:
        line = f"send docker build the request's {request.name} as docker-compose does"
        reason = f"no docker build flag or compose build key sets {request.name}"
        return [Trial("cli-flag", line, reason=reason, changes=changes)]
    if request.compose is None:
        line = f"run docker build without {mirror.flag}"
        reason = (
            f"docker build sent {request.name} and docker-compose did not: the harness passes "
            "docker build only the service's own build options"
        )
        return [Trial("cli-flag", line, reason=reason, changes=changes)]
    found: list[Trial] = []
    try:
        flags = cli_flags(request.name, request.compose)
    except MirrorError as error:
        line = f"run docker build with {mirror.flag} as docker-compose sends it"
        found.append(Trial("cli-flag", line, reason=str(error), changes=changes))
    else:
        as_key = f" (docker-compose's build.{mirror.key})" if mirror.key else ""
        found.append(
            Trial(
                "cli-flag",
                f"run docker build with {shell_words(flags)}{as_key}",
                replace(spec, cli_flags=(*spec.cli_flags, *flags)),
                changes={**changes, "cli_flags": shell_words(flags)},
            )
        )
    if (key := mirror.removable) is not None:
        found.append(
            Trial(
                "compose-key",
                f"remove build.{key} from the compose service",
                replace(spec, drop_keys=(*spec.drop_keys, key)),
                changes={**changes, "drop": key},
            )
        )
    return found


def cli_candidates(
    reference: str, wanted: Sequence[str], on_path: Sequence[CliInfo]
) -> tuple[list[str], list[CliInfo]]:
    """The other docker CLIs to try, at most one per major version and none of the reference
    CLI's: the versions to fetch first (the same on every machine), then CLIs on PATH of a
    major version not yet chosen."""
    majors = {major_of(reference)}
    versions: list[str] = []
    for version in wanted:
        if major_of(version) not in majors:
            majors.add(major_of(version))
            versions.append(version)
    found: list[CliInfo] = []
    for cli in on_path:
        if major_of(cli.version) not in majors:
            majors.add(major_of(cli.version))
            found.append(cli)
    return versions, found


def cli_line(version: str) -> str:
    return f"run docker build with docker CLI {version}"


def major_of(version: str) -> int | None:
    """A Docker version's major number ("20.10.24+dfsg1" -> 20; None when it has none)."""
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else None


def _on_cli_build(compose: str, cli_build: str) -> bool:
    """docker-compose 1.x already hands the build to the docker CLI."""
    return cli_build == "1" or (cli_build == "default" and _version(compose) >= CLI_BUILD_DEFAULT)


def _cli_build(spec: CellSpec) -> Trial:
    line = "set COMPOSE_DOCKER_CLI_BUILD=1 for docker-compose build"
    if _version(spec.compose) < CLI_BUILD_SINCE:
        reason = f"docker-compose {spec.compose} has no CLI build (it came with 1.25)"
        return Trial("cli-build", line, reason=reason, changes={"cli_build": "1"})
    return Trial("cli-build", line, replace(spec, cli_build="1"), changes={"cli_build": "1"})


def _buildkit(spec: CellSpec) -> Trial:
    changes = {"builder": "buildkit"}
    line = "build with BuildKit on both sides (DOCKER_BUILDKIT=1)"
    cli_build = spec.cli_build
    if not is_v2(spec.compose) and compose_buildkit_problem(spec.compose, cli_build):
        if _version(spec.compose) < CLI_BUILD_SINCE:
            reason = compose_buildkit_problem(spec.compose, cli_build)
            return Trial("buildkit", line, reason=reason, changes=changes)
        cli_build = "1"
        changes["cli_build"] = "1"
        line = "build with BuildKit on both sides (DOCKER_BUILDKIT=1, COMPOSE_DOCKER_CLI_BUILD=1)"
    variant = replace(spec, builder=BUILDKIT, cli_build=cli_build)
    return Trial("buildkit", line, variant, changes=changes)


def _root_owned(spec: CellSpec, cell: CellResult) -> Trial | None:
    """A checkout owned by root, as a CI checkout or a root ``git clone`` gives; None when the
    context already is."""
    owners = set(cell.owners or ())
    if owners and owners <= {ROOT}:
        return None
    line = f"check out the project as root (files owned {ROOT})"
    changes = {"owner": ROOT}
    if spec.project is not None:
        reason = "a project's files keep their own owners here: chown a copy to 0:0 to try it"
        return Trial("root-owned", line, reason=reason, changes=changes)
    return Trial("root-owned", line, replace(spec, uid=0, gid=0), changes=changes)


def _version(text: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion:
        return Version("0")


# --- another compose release -----------------------------------------------------------------


def nearest_first(version: str, releases: Iterable[str]) -> list[str]:
    """The other final releases of the compose axis, nearest to ``version`` first (by place in
    release order; of two as near, the newer)."""
    ordered = sorted({r for r in releases if not _version(r).is_prerelease}, key=_version)
    ordered = [r for r in ordered if r != version]
    here = _version(version)
    below = [r for r in ordered if _version(r) < here]
    above = [r for r in ordered if _version(r) > here]
    result: list[str] = []
    for index in range(max(len(below), len(above))):
        if index < len(above):
            result.append(above[index])
        if index < len(below):
            result.append(below[-1 - index])
    return result


def newest_to_try(version: str, releases: Iterable[str]) -> list[str]:
    """When no stored release shares: the newest release of ``version``'s major line, then the
    newest of all (at most two cells to build, never ``version`` itself)."""
    finals = [r for r in releases if not _version(r).is_prerelease and r != version]
    same = [r for r in finals if _version(r).major == _version(version).major]
    picks = [max(same, key=_version)] if same else []
    if finals:
        picks.append(max(finals, key=_version))
    return list(dict.fromkeys(picks))


def release_trial(spec: CellSpec, release: str) -> Trial:
    """The cell with another compose release (its own docker SDK; a 2.x release has no
    COMPOSE_DOCKER_CLI_BUILD, so the matrix holds it unset)."""
    name = "compose" if is_v2(release) else "docker-compose"
    cli_build = "default" if is_v2(release) else spec.cli_build
    return Trial(
        "release",
        f"use {name} {release}",
        replace(spec, compose=release, sdk="auto", cli_build=cli_build),
        changes={"compose": release},
    )


def no_release(version: str) -> Remedy:
    return Remedy(
        "release",
        "use another compose release",
        NOT_TRIED,
        reason=f"no release near {version} was stored or buildable to try",
    )


# --- what the runs showed ---------------------------------------------------------------------


def outcome(trial: Trial, cell: CellResult, stored: bool, seconds: float) -> Remedy:
    """The remedy's verdict from the cell that tried it."""
    verdict, at, reason = NOT_TRIED, None, None
    if cell.verdict is Verdict.SHARED:
        verdict = SHARES
    elif cell.verdict is Verdict.DIVERGED:
        verdict, at = MISSES, cell.diverged_at
    else:
        lines = (cell.reason or "").strip().splitlines()
        reason = f"{cell.verdict}: {lines[0]}" if lines else str(cell.verdict)
    return Remedy(
        trial.kind,
        trial.remedy,
        verdict,
        builds=0 if stored else _builds(cell),
        seconds=0.0 if stored else round(seconds, 3),
        diverged_at=at.step if at else None,
        stored=stored,
        reason=reason,
        changes=trial.changes,
        stage=at.stage if at else None,
    )


def _builds(cell: CellResult) -> int:
    ran = sum(1 for name in ("build_compose", "build_cli") if name in cell.timings)
    return ran + cell.explain_builds


def by_cost(remedies: Iterable[Remedy]) -> list[Remedy]:
    """Cheapest first (see KINDS); the order they were given within a kind."""
    return sorted(remedies, key=lambda r: KINDS.index(r.kind) if r.kind in KINDS else len(KINDS))


def chosen(remedies: Iterable[Remedy]) -> Remedy | None:
    """The cheapest remedy the engine proved (None: none made the builds share)."""
    return next((r for r in by_cost(remedies) if r.helps), None)


@dataclass(frozen=True)
class Advice:
    """One recommendation over a matrix: the cheapest proven remedy (None: none of those tried
    made the builds share) and the diverged cells it is the answer for."""

    remedy: str | None
    cells: tuple[CellResult, ...]

    def as_json(self) -> dict[str, object]:
        return {
            "remedy": self.remedy,
            "cells": [
                {"compose": c.compose, "cli_build": c.cli_build, "builder": str(c.builders),
                 "scenario": c.scenario}
                for c in self.cells
            ],
        }  # fmt: skip


def advise(cells: Iterable[CellResult]) -> list[Advice]:
    """The diverged cells that tried remedies, grouped by their cheapest proven remedy; the
    advice that serves most cells first, cells with no proven remedy last."""
    groups: dict[str | None, list[CellResult]] = {}
    for cell in cells:
        if cell.remedies:
            best = chosen(cell.remedies)
            groups.setdefault(best.remedy if best else None, []).append(cell)
    ordered = sorted(groups.items(), key=lambda item: (item[0] is None, -len(item[1])))
    return [Advice(remedy, tuple(members)) for remedy, members in ordered]
