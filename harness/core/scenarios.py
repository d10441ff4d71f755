"""Scenario declarations (fixtures/scenarios.toml): which fixture, Dockerfile, base and owner.

A scenario is data, not code, so a new way for the caches to drift apart is one table away.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from harness.core.buildkind import LEGACY, Builder, Builders
from harness.core.errors import UserError
from harness.core.model import CellResult

_BASES = ("busybox", "registry")
_OWNERS = ("checkout", "root", "preserve")
_KEYS = {"description", "varies", "fixture", "dockerfile", "service", "base", "owner"}
_OPTIONAL = {
    "umask": "022",
    "executable": (),
    "expect": (),
    "hard_links": {},
    "fifos": (),
    "sockets": (),
    "capabilities": (),
    "onbuild": (),
}
_PATH_LISTS = ("executable", "fifos", "sockets", "capabilities")
_EXPECT_KEYS = {
    "behaviour",
    "source",
    "path",
    "compose",
    "sdk",
    "cli",
    "engine",
    "order",
    "builder",
}
_ORDERS = ("compose-first", "cli-first")
_PATHS = ("sdk", "cli")
# docker-compose hands the build to the docker CLI with COMPOSE_DOCKER_CLI_BUILD=1 from 1.25.0,
# and by default from 1.28.0 (compose CHANGELOG 1.25.0, 1.28.0).
CLI_BUILD_SINCE = Version("1.25.0")
CLI_BUILD_DEFAULT_SINCE = Version("1.28.0")


class ScenarioError(UserError):
    """A scenario name or declaration is wrong; the message says what is valid."""


def build_path(compose: str, cli_build: str) -> str:
    """Which client makes compose's build context: "sdk" (docker-py) or "cli" (docker build)."""
    version = Version(compose)
    if cli_build == "1" and version >= CLI_BUILD_SINCE:
        return "cli"
    if cli_build == "default" and version >= CLI_BUILD_DEFAULT_SINCE:
        return "cli"
    return "sdk"


@dataclass(frozen=True)
class CellScope:
    """What an expectation's scope is matched against: the cell's inputs, the versions of
    the reference CLI and the engine it ran with, and the builders it used."""

    compose: str
    cli_build: str
    sdk: str | None
    cli: str | None = None
    engine: str | None = None
    order: str = "compose-first"
    builder: Builders = LEGACY  # the builders both builds used

    @classmethod
    def of(cls, result: CellResult) -> CellScope:
        """The scope of a cell that ran."""
        return cls(
            result.compose,
            result.cli_build,
            result.sdk,
            result.cli.version,
            result.engine.version,
            f"{result.order[0]}-first",
            result.builders_used or result.builders,
        )


def _within(wanted: str, version: str | None) -> bool:
    if not wanted:
        return True
    if version is None:
        return False
    try:
        return SpecifierSet(wanted).contains(version, prereleases=True)
    except InvalidVersion:  # a version PEP 440 cannot read is outside every range
        return False


@dataclass(frozen=True)
class Expectation:
    """What a scenario is expected to show where the scope matches, and the upstream source
    that says why. ``behaviour``: "shared", "diverged@N", "fails" or "fails: <words>"."""

    behaviour: str
    source: str
    path: str = ""  # "sdk", "cli" or "" for both (see build_path)
    compose: str = ""  # PEP 440 range of docker-compose releases
    sdk: str = ""  # PEP 440 range of the docker SDK the cell ran with
    # PEP 440 ranges of the reference CLI's and the engine's versions: the 20.10 and 28.x CLIs
    # write different modes, so some scenarios behave differently with each
    cli: str = ""
    engine: str = ""
    order: str = ""  # "compose-first", "cli-first" or "" for both
    # the builders both builds used, None for any: the legacy tar's differences do not reach
    # a BuildKit build
    builder: Builders | None = None

    def applies(self, cell: CellScope) -> bool:
        """Does the scope hold? A cell whose CLI or engine version is unknown (None) is outside
        any scope that names one."""
        if self.path and self.path != build_path(cell.compose, cell.cli_build):
            return False
        if self.order and self.order != cell.order:
            return False
        if self.builder is not None and self.builder != cell.builder:
            return False
        if Version(cell.compose) not in SpecifierSet(self.compose):
            return False
        ranges = ((self.sdk, cell.sdk), (self.cli, cell.cli), (self.engine, cell.engine))
        return all(_within(wanted, version) for wanted, version in ranges)

    def matches(self, observed: str | None) -> bool:
        """Does a result's behaviour (its stored form, None for a skip) fit this one?"""
        if observed is None:
            return False
        if self.behaviour.startswith("fails"):
            wanted = self.behaviour.removeprefix("fails").removeprefix(":").strip()
            return observed.startswith("fails: ") and wanted in observed
        return observed == self.behaviour


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    varies: str
    fixture: str
    dockerfile: str
    service: str
    base: str
    owner: str
    umask: str = "022"  # the checkout's umask: 022 gives 0644/0755, 002 gives 0664/0775
    executable: tuple[str, ...] = ()  # fixture files checked out with the executable bit
    root: str = ""  # the folder the fixture is in (a project's fixture is absolute)
    expect: tuple[Expectation, ...] = ()  # first that applies wins
    # Entries git cannot hold, made in the working copy: (new path, existing file) pairs
    # hard-linked, fifos, unix sockets, and files given a capability as setcap does.
    hard_links: tuple[tuple[str, str], ...] = ()
    fifos: tuple[str, ...] = ()
    sockets: tuple[str, ...] = ()
    capabilities: tuple[str, ...] = ()
    # ONBUILD triggers the offline base carries (each as after ``ONBUILD``): the builders run
    # them at each measured build's FROM step, as they would for a user's parent image.
    onbuild: tuple[str, ...] = ()

    def expected(self, cell: CellScope) -> Expectation | None:
        return next((e for e in self.expect if e.applies(cell)), None)

    @property
    def umask_bits(self) -> int:
        return int(self.umask, 8)

    def fixture_dir(self) -> Path:
        return Path(self.root) / self.fixture


def parse_scenarios(text: str, root: str = "") -> dict[str, Scenario]:
    """Validate every declaration: unknown keys, missing keys and bad values are errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError(f"scenarios.toml: {error}") from None
    scenarios = {}
    for name, table in data.items():
        if not isinstance(table, dict):
            raise ScenarioError(f"scenario {name!r} must be a table")
        unknown = set(table) - _KEYS - set(_OPTIONAL)
        if unknown:
            raise ScenarioError(
                f"scenario {name!r}: unknown key {sorted(unknown)[0]!r} "
                f"(valid: {', '.join(sorted(_KEYS | set(_OPTIONAL)))})"
            )
        missing = _KEYS - set(table)
        if missing:
            raise ScenarioError(f"scenario {name!r}: missing key {sorted(missing)[0]!r}")
        for key in _KEYS:
            if not isinstance(table[key], str) or not table[key]:
                raise ScenarioError(f"scenario {name!r}: {key} must be a non-empty string")
        if table["base"] not in _BASES:
            raise ScenarioError(f"scenario {name!r}: base must be one of {', '.join(_BASES)}")
        if table["owner"] not in _OWNERS:
            raise ScenarioError(f"scenario {name!r}: owner must be one of {', '.join(_OWNERS)}")
        umask = table.get("umask", _OPTIONAL["umask"])
        if not isinstance(umask, str) or len(umask) != 3 or any(c not in "01234567" for c in umask):
            raise ScenarioError(f"scenario {name!r}: umask must be three octal digits like '022'")
        lists = {key: tuple(_paths(name, key, table.get(key, []))) for key in _PATH_LISTS}
        links = table.get("hard_links", {})
        if not isinstance(links, dict):
            raise ScenarioError(f"scenario {name!r}: hard_links must map new paths to files")
        new, existing = (
            _paths(name, "hard_links", paths) for paths in ([*links], [*links.values()])
        )
        hard_links = tuple(zip(new, existing, strict=True))
        expect = tuple(_parse_expect(name, table.get("expect", [])))
        onbuild = tuple(_triggers(name, table))
        table = {**table, **lists, "hard_links": hard_links, "expect": expect, "onbuild": onbuild}
        scenarios[name] = Scenario(name=name, root=root, **table)
    return scenarios


def _triggers(name: str, table: dict[str, object]) -> list[str]:
    """ONBUILD triggers for the offline base: one instruction each, on one line."""
    value = table.get("onbuild", [])
    if not isinstance(value, list) or not all(
        isinstance(item, str) and item.strip() and "\n" not in item for item in value
    ):
        raise ScenarioError(f"scenario {name!r}: onbuild must list one-line instructions")
    if value and table["base"] != "busybox":
        raise ScenarioError(f'scenario {name!r}: onbuild needs base = "busybox"')
    return value


def _paths(name: str, key: str, value: object) -> list[str]:
    """Paths relative to the fixture folder that stay inside it."""
    if not isinstance(value, list) or not all(isinstance(path, str) for path in value):
        raise ScenarioError(f"scenario {name!r}: {key} must list file paths")
    for path in value:
        parts = PurePosixPath(path).parts
        if not parts or parts[0] == "/" or ".." in parts:
            raise ScenarioError(
                f"scenario {name!r}: {key}: {path!r} is not a path inside the fixture"
            )
    return value


def _parse_expect(name: str, value: object) -> list[Expectation]:
    where = f"scenario {name!r}: expect"
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ScenarioError(f"{where} must be a list of tables")
    expectations = []
    for item in value:
        unknown = set(item) - _EXPECT_KEYS
        if unknown:
            raise ScenarioError(
                f"{where}: unknown key {sorted(unknown)[0]!r} "
                f"(valid: {', '.join(sorted(_EXPECT_KEYS))})"
            )
        if not all(isinstance(item.get(k), str) and item[k] for k in ("behaviour", "source")):
            raise ScenarioError(f"{where}: behaviour and source must be non-empty strings")
        behaviour = item["behaviour"]
        if not (
            behaviour == "shared"
            or behaviour.startswith("fails")
            or (behaviour.startswith("diverged@") and behaviour[9:].isdigit())
        ):
            raise ScenarioError(
                f"{where}: behaviour {behaviour!r} is not shared, diverged@N or fails[: words]"
            )
        if item.get("path", "") not in ("", *_PATHS):
            raise ScenarioError(f"{where}: path must be one of {', '.join(_PATHS)}")
        if item.get("order", "") not in ("", *_ORDERS):
            raise ScenarioError(f"{where}: order must be one of {', '.join(_ORDERS)}")
        if "builder" in item:
            item = {**item, "builder": _builders_used(where, item["builder"])}
        try:
            for key in ("compose", "sdk", "cli", "engine"):
                SpecifierSet(item.get(key, ""))
        except (InvalidSpecifier, TypeError):
            raise ScenarioError(
                f"{where}: compose, sdk, cli and engine must be PEP 440 ranges"
            ) from None
        expectations.append(Expectation(**item))
    return expectations


def _builders_used(where: str, value: object) -> Builders:
    """The builders a cell used; "default" is what a cell asks for, never what it used, so no
    expectation can name it."""
    try:
        builders = Builders.parse(str(value))
    except UserError as error:
        raise ScenarioError(f"{where}: {error}") from None
    if Builder.DEFAULT in (builders.compose, builders.cli):
        raise ScenarioError(
            f"{where}: builder names the builders used (legacy, buildkit, or per side), not default"
        )
    return builders
