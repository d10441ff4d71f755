"""Scenario declarations (fixtures/scenarios.toml): which fixture, Dockerfile, base and owner.

A scenario is data, not code, so a new way for the caches to drift apart is one table away.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
_BASES = ("busybox", "registry")
_OWNERS = ("checkout", "root")
_KEYS = {"description", "varies", "fixture", "dockerfile", "service", "base", "owner"}


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

    def fixture_dir(self, root: Path = FIXTURES) -> Path:
        return root / self.fixture


def parse_scenarios(text: str) -> dict[str, Scenario]:
    """Validate every declaration: unknown keys, missing keys and bad values are errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError(f"scenarios.toml: {error}") from None
    scenarios = {}
    for name, table in data.items():
        if not isinstance(table, dict):
            raise ScenarioError(f"scenario {name!r} must be a table")
        unknown = set(table) - _KEYS
        if unknown:
            raise ScenarioError(
                f"scenario {name!r}: unknown key {sorted(unknown)[0]!r} "
                f"(valid: {', '.join(sorted(_KEYS))})"
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
        scenarios[name] = Scenario(name=name, **table)
    return scenarios


def load_scenarios(root: Path = FIXTURES) -> dict[str, Scenario]:
    return parse_scenarios((root / "scenarios.toml").read_text())


def get_scenario(name: str, root: Path = FIXTURES) -> Scenario:
    scenarios = load_scenarios(root)
    if name not in scenarios:
        raise ScenarioError(f"unknown scenario {name!r} (known: {', '.join(sorted(scenarios))})")
    return scenarios[name]


def fixture_digest(scenario: Scenario, root: Path = FIXTURES) -> str:
    """A digest of everything the scenario builds from: its declaration and its files.

    Part of every stored cell's key, so editing a fixture never reuses an old answer.
    """
    digest = hashlib.sha256(repr(sorted(asdict(scenario).items())).encode())
    folder = scenario.fixture_dir(root)
    for path in sorted(folder.rglob("*")):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        if path.is_symlink():
            digest.update(b"link:" + os.readlink(path).encode())
        elif path.is_file():
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]
