"""Scenario declarations (fixtures/scenarios.toml): which fixture, Dockerfile, base and owner.

A scenario is data, not code, so a new way for the caches to drift apart is one table away.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

_BASES = ("busybox", "registry")
_OWNERS = ("checkout", "root", "preserve")
_KEYS = {"description", "varies", "fixture", "dockerfile", "service", "base", "owner"}
_OPTIONAL = {"umask": "022", "executable": ()}


class ScenarioError(ValueError):
    """A scenario name or declaration is wrong; the message says what is valid."""


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
        executable = table.get("executable", [])
        if not isinstance(executable, list) or not all(isinstance(p, str) for p in executable):
            raise ScenarioError(f"scenario {name!r}: executable must be a list of file paths")
        table = {**table, "executable": tuple(executable)}
        scenarios[name] = Scenario(name=name, root=root, **table)
    return scenarios
