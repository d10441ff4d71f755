"""What to install for a cell: docker-compose as of its release date, plus the few overrides
today's Python needs. Pure: the rules come from matrix.toml ``[compat]``.

Resolving "as of the release date" (uv --exclude-newer) gives users' dependency set of the
time. Some of those pins cannot build or import on a current Python; each rule replaces one
package for the compose versions (and Pythons) where the evidence says it must, and every
applied rule is recorded in the cell's result.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

# From 1.24.0 docker-compose requires docker[ssh]; an SDK override must keep the extra.
SSH_EXTRA_SINCE = Version("1.24.0")


class CompatError(ValueError):
    """A [compat] rule is malformed; the message names it."""


@dataclass(frozen=True)
class Override:
    """Replace every requirement on ``package`` by ``requirement`` when both specifiers match."""

    package: str
    requirement: str
    reason: str
    compose: str = ""
    python: str = ""
    sdk: str = ""  # "auto" only, or "" for any

    def applies(self, compose: Version, python: Version, sdk: str) -> bool:
        if self.sdk and self.sdk != ("auto" if sdk == "auto" else "explicit"):
            return False
        return compose in SpecifierSet(self.compose) and python in SpecifierSet(self.python)

    def as_json(self) -> dict[str, str]:
        return {"package": self.package, "requirement": self.requirement, "reason": self.reason}


@dataclass(frozen=True)
class Compat:
    overrides: tuple[Override, ...] = ()
    unpinned: tuple[str, ...] = ("setuptools", "wheel", "cython")  # build tools only


def parse_compat(table: dict[str, object]) -> Compat:
    """Validate ``[compat]``: ``unpinned`` (list of names) and ``[[compat.override]]`` rules."""
    known = {"unpinned", "override"}
    unknown = set(table) - known
    if unknown:
        raise CompatError(
            f"[compat]: unknown key {sorted(unknown)[0]!r} (valid: override, unpinned)"
        )
    unpinned = table.get("unpinned", list(Compat.unpinned))
    if not isinstance(unpinned, list) or not all(isinstance(n, str) for n in unpinned):
        raise CompatError("[compat] unpinned must be a list of package names")
    rules = table.get("override", [])
    if not isinstance(rules, list):
        raise CompatError("[compat] override must be an array of tables ([[compat.override]])")
    return Compat(tuple(_parse_override(i, rule) for i, rule in enumerate(rules)), tuple(unpinned))


def _parse_override(index: int, rule: object) -> Override:
    where = f"[[compat.override]] #{index + 1}"
    fields = {"package", "requirement", "reason", "compose", "python", "sdk"}
    if not isinstance(rule, dict):
        raise CompatError(f"{where}: must be a table")
    unknown = set(rule) - fields
    if unknown:
        raise CompatError(
            f"{where}: unknown key {sorted(unknown)[0]!r} (valid: {', '.join(sorted(fields))})"
        )
    for key in ("package", "requirement", "reason"):
        if not isinstance(rule.get(key), str) or not rule[key]:
            raise CompatError(f"{where}: {key} must be a non-empty string")
    if not all(isinstance(rule.get(k, ""), str) for k in ("compose", "python", "sdk")):
        raise CompatError(f"{where}: compose, python and sdk must be strings")
    try:
        requirement = Requirement(rule["requirement"])
        SpecifierSet(rule.get("compose", ""))
        SpecifierSet(rule.get("python", ""))
    except (InvalidRequirement, InvalidSpecifier) as error:
        raise CompatError(f"{where}: {error}") from None
    if canonicalize_name(requirement.name) != canonicalize_name(rule["package"]):
        raise CompatError(
            f"{where}: requirement {rule['requirement']!r} is not for {rule['package']!r}"
        )
    if rule.get("sdk", "") not in ("", "auto", "explicit"):
        raise CompatError(f"{where}: sdk must be 'auto' or 'explicit'")
    return Override(**rule)


@dataclass(frozen=True)
class InstallPlan:
    """Everything that decides what lands in a cell's venv (and so part of its store key)."""

    compose: str
    sdk: str  # "auto" or an explicit docker SDK version
    python: str  # major.minor of the interpreter
    cutoff: datetime | None
    overrides: tuple[Override, ...] = field(default=())
    unpinned: tuple[str, ...] = field(default=())
    cutoff_from: str = ""  # whose upload date the cutoff is, e.g. "docker 3.4.0"

    def requirements(self) -> list[str]:
        return [f"docker-compose=={self.compose}"]

    def override_lines(self) -> list[str]:
        """uv --overrides: applied rules, and an explicit SDK even outside compose's range."""
        lines = [rule.requirement for rule in self.overrides]
        if self.sdk != "auto":
            # an override replaces the whole requirement: keep the extra compose asks for
            extras = "[ssh]" if Version(self.compose) >= SSH_EXTRA_SINCE else ""
            lines.append(f"docker{extras}=={self.sdk}")
        return lines

    def newer_allowed(self) -> list[str]:
        """Packages exempt from the date cutoff: build tools and what we override on purpose."""
        names = list(self.unpinned) + [rule.package for rule in self.overrides]
        if self.sdk != "auto":
            names.append("docker")
        return sorted({canonicalize_name(name) for name in names})

    def as_json(self) -> dict[str, object]:
        return {
            "compose": self.compose,
            "sdk": self.sdk,
            "python": self.python,
            "cutoff": self.cutoff.isoformat() if self.cutoff else None,
            "cutoff_from": self.cutoff_from,
            "overrides": [rule.as_json() for rule in self.overrides],
            "unpinned": list(self.unpinned),
        }

    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.as_json(), sort_keys=True).encode()).hexdigest()[:16]


def plan_install(
    compat: Compat,
    compose: str,
    sdk: str,
    python: str,
    cutoff: datetime | None,
    cutoff_from: str = "",
) -> InstallPlan:
    applied = tuple(
        rule for rule in compat.overrides if rule.applies(Version(compose), Version(python), sdk)
    )
    return InstallPlan(compose, sdk, python, cutoff, applied, compat.unpinned, cutoff_from)


def sdk_in_range(
    compose_requires: list[str] | tuple[str, ...], sdk: str | None, python: str
) -> bool | None:
    """Does the installed docker SDK satisfy the compose release's own declared range?

    ``None`` when the release declares no docker SDK requirement we can read.
    """
    if sdk is None:
        return None
    environment = {
        "python_version": ".".join(python.split(".")[:2]),
        "python_full_version": python,
        "extra": "",
    }
    for line in compose_requires:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if canonicalize_name(requirement.name) not in ("docker", "docker-py"):
            continue
        if requirement.marker is not None and not requirement.marker.evaluate(environment):
            continue
        return requirement.specifier.contains(Version(sdk), prereleases=True)
    return None
