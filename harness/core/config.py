"""matrix.toml: the axes of the matrix, run options and compatibility overrides.

Validation is strict and every error is one line naming the key, its line in the file and what
is valid, because a typo in a matrix costs a long run with the wrong cells.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from harness.core.buildkind import LEGACY, Builders
from harness.core.compat import Compat, CompatError, builtin_compat, parse_compat
from harness.core.debian import is_tool_version
from harness.core.errors import UserError
from harness.core.model import CLI_BUILDS, ORDERS, CellSpec

_SECTIONS = {"matrix", "run", "compat"}
_MATRIX_KEYS = {
    "compose",
    "sdk",
    "cli_build",
    "scenario",
    "builder",
    "latest_patch_only",
    "pre",
    "exclude",
    "engine",
    "cli",
}
_RUN_KEYS = {
    "order",
    "timeout",
    "install_timeout",
    "uid",
    "gid",
    "explain",
    "cli",
    "jobs",
    "remedies",
}
MAX_JOBS = 64
DEFAULT_JOBS_CAP = 8  # more cells at once than this only queue up on one engine
_EXCLUDE_KEYS = {"compose", "sdk", "cli_build", "scenario", "builder", "engine", "cli"}


class ConfigError(UserError):
    """matrix.toml is wrong; the message says where and what is valid."""


@dataclass(frozen=True)
class Exclusion:
    """Cells matching every given field are left out (compose is a PEP 440 specifier)."""

    compose: str = ""
    sdk: str = ""
    cli_build: str = ""
    scenario: str = ""
    builder: Builders | None = None
    engine: str = ""
    cli: str = ""

    def matches(
        self,
        compose: str,
        sdk: str,
        cli_build: str,
        scenario: str,
        builder: Builders = LEGACY,
        engine: str = "",
        cli: str = "",
    ) -> bool:
        if self.compose and Version(compose) not in SpecifierSet(self.compose):
            return False
        return all(
            not wanted or wanted == actual
            for wanted, actual in (
                (self.sdk, sdk),
                (self.cli_build, cli_build),
                (self.scenario, scenario),
                (self.builder, builder),
                (self.engine, engine),
                (self.cli, cli),
            )
        )


@dataclass(frozen=True)
class RunOptions:
    order: str = "compose-first"
    timeout: float = 600.0
    install_timeout: float = 900.0
    uid: int = 1000
    gid: int = 1000
    explain: bool = False  # capture contexts and diff them for diverged cells
    cli: str | None = None  # the reference docker CLI (a path or a name on PATH); None: docker
    jobs: int | None = None  # cells at once; None: the number of CPUs, capped (default_jobs)
    remedies: bool = False  # diverged cells: try each remedy by builds (harness.app.remedies)

    def spec(self, **inputs: Any) -> CellSpec:
        """A cell with these run options and the given inputs (an input wins)."""
        options = {
            "order": self.order,
            "uid": self.uid,
            "gid": self.gid,
            "timeout": self.timeout,
            "explain": self.explain,
        }
        return CellSpec(**{**options, **inputs})


@dataclass(frozen=True)
class MatrixConfig:
    compose: tuple[str, ...]  # exact releases and/or PEP 440 ranges, expanded against PyPI
    sdk: tuple[str, ...] = ("auto",)
    cli_build: tuple[str, ...] = ("default",)
    scenario: tuple[str, ...] = ("seed",)
    builder: tuple[Builders, ...] = (LEGACY,)
    engine: tuple[str, ...] = ("",)  # provisioned engines' versions; "": the run's engine
    cli: tuple[str, ...] = ("",)  # provisioned CLIs' versions; "": the run's reference CLI
    latest_patch_only: bool = False
    pre: bool = False
    exclude: tuple[Exclusion, ...] = ()
    run: RunOptions = field(default_factory=RunOptions)
    compat: Compat = field(default_factory=Compat)
    source: str = "matrix.toml"
    lines: dict[str, int] = field(default_factory=dict, compare=False)

    def where(self, key: str) -> str:
        """``file:line`` of a [matrix] key, for errors found after parsing."""
        line = self.lines.get(key)
        return f"{self.source}:{line}" if line else self.source


def is_exact_version(text: str) -> bool:
    """An exact release ("1.20.0") rather than a range (">=1.19,<1.30")."""
    try:
        Version(text)
    except InvalidVersion:
        return False
    return True


def load_config(path: Path) -> MatrixConfig:
    """Read and validate a matrix file; ``[compat] from = "other.toml"`` shares another file's
    rules, so one set of overrides serves several matrices."""
    text = _read(path)
    config = parse_config(text, str(path))
    shared = tomllib.loads(text).get("compat", {}).get("from")
    if shared is None:
        return config
    origin = path.parent / shared
    if origin.resolve() == path.resolve():
        raise ConfigError(f"{path}: [compat] from names the file itself")
    return replace(config, compat=parse_config(_read(origin), str(origin)).compat)


MAX_CONFIG_BYTES = 1 << 20  # a matrix file is a few kB; /dev/zero would be read forever


def _read(path: Path) -> str:
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_CONFIG_BYTES + 1)
    except OSError as error:
        raise ConfigError(f"{path}: cannot read ({error.strerror or error})") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES >> 20} MiB: not a matrix file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}:{line}: not UTF-8 text (byte 0x{data[error.start]:02x}); "
            "save the file as UTF-8"
        ) from None


def parse_config(text: str, name: str = "matrix.toml") -> MatrixConfig:
    data = _tables(text, name)

    def fail(key: str, message: str, section: str = "matrix") -> ConfigError:
        line = _line_of(text, section, key)
        where = f"{name}:{line}" if line else name
        return ConfigError(f"{where}: [{section}] {key}: {message}")

    matrix = data["matrix"]
    _reject_unknown(matrix, _MATRIX_KEYS, "matrix", fail)
    if "compose" not in matrix:
        raise ConfigError(f"{name}: [matrix] needs `compose = [...]` (releases or ranges)")
    compose = _compose_axis(matrix, fail)
    sdk = _checked_list(matrix, "sdk", ["auto"], fail, _sdk_problem)
    cli_build = _checked_list(matrix, "cli_build", ["default"], fail, _cli_build_problem)
    scenario = _string_list(matrix, "scenario", fail, default=["seed"])
    builder = _builder_axis(matrix, fail)
    flags = {key: _flag(matrix, key, fail) for key in ("latest_patch_only", "pre")}
    tools = {key: _tool_versions(matrix, key, fail) for key in ("engine", "cli")}
    axes: dict[str, Sequence[object]] = {
        "sdk": sdk,
        "cli_build": cli_build,
        "scenario": scenario,
        "builder": builder,
        **tools,
    }
    lines = {key: line for key in _MATRIX_KEYS if (line := _line_of(text, "matrix", key))}
    return MatrixConfig(
        source=name,
        lines=lines,
        compose=tuple(compose),
        sdk=tuple(sdk),
        cli_build=tuple(cli_build),
        scenario=tuple(scenario),
        builder=tuple(builder),
        engine=tuple(tools["engine"]),
        cli=tuple(tools["cli"]),
        exclude=tuple(_parse_exclusions(matrix.get("exclude", []), fail, axes)),
        run=_parse_run(data.get("run", {}), fail),
        compat=_compat_rules(data.get("compat", {}), fail, name),
        **flags,
    )


def _tables(text: str, name: str) -> dict[str, Any]:
    """The file's TOML, its sections known and each a table, [matrix] among them."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{name}: {error}") from None
    unknown = set(data) - _SECTIONS
    if unknown:
        raise ConfigError(
            f"{name}: unknown section [{sorted(unknown)[0]}] (valid: "
            f"{', '.join(sorted(_SECTIONS))})"
        )
    for section in sorted(set(data) & _SECTIONS):
        if not isinstance(data[section], dict):
            line = _line_of(text, "", section)
            where = f"{name}:{line}" if line else name
            value = f"{data[section]!r:.40}"
            raise ConfigError(f"{where}: {section} must be a [{section}] table, not {value}")
    if not isinstance(data.get("matrix"), dict):
        raise ConfigError(f"{name}: missing [matrix] section with at least `compose = [...]`")
    return data


def _compose_axis(matrix: dict, fail) -> list[str]:
    compose = _string_list(matrix, "compose", fail)
    for entry in compose:
        if not is_exact_version(entry):
            try:
                SpecifierSet(entry)
            except InvalidSpecifier:
                raise fail(
                    "compose",
                    f"{entry!r} is neither a release like '1.20.0' nor a "
                    "PEP 440 range like '>=1.19,<1.30'",
                ) from None
    return compose


def _sdk_problem(entry: str) -> str | None:
    if entry != "auto" and not is_exact_version(entry):
        return f"{entry!r} must be 'auto' or a release like '3.1.4'"
    return None


def _cli_build_problem(entry: str) -> str | None:
    return None if entry in CLI_BUILDS else f"{entry!r} is not one of {', '.join(CLI_BUILDS)}"


def _checked_list(
    matrix: dict, key: str, default: list[str], fail, problem: Callable[[str], str | None]
) -> list[str]:
    """The strings under ``key``, each without a ``problem`` (the first one found fails)."""
    entries = _string_list(matrix, key, fail, default=default)
    for entry in entries:
        if (why := problem(entry)) is not None:
            raise fail(key, why)
    return entries


def _builder_axis(matrix: dict, fail) -> list[Builders]:
    builder = []
    for entry in _string_list(matrix, "builder", fail, default=["legacy"]):
        try:
            builder.append(Builders.parse(entry))
        except UserError as error:
            raise fail("builder", str(error)) from None
    return builder


def _flag(matrix: dict, key: str, fail) -> bool:
    value = matrix.get(key, False)
    if not isinstance(value, bool):
        raise fail(key, "must be true or false")
    return value


def _compat_rules(table: Any, fail, name: str) -> Compat:
    """The file's [compat] rules over the harness's own; ``from`` is read by load_config."""
    if isinstance(table, dict) and "from" in table:
        if set(table) != {"from"} or not isinstance(table["from"], str):
            raise fail("from", "must be the only key, naming another matrix file", "compat")
        table = {}  # load_config reads the named file's rules
    try:
        return parse_compat(table, base=builtin_compat())
    except CompatError as error:
        raise ConfigError(f"{name}: {error}") from None


def _tool_versions(matrix: dict, key: str, fail) -> list[str]:
    """The ``engine`` or ``cli`` axis: Docker versions to provision (``28.5``, ``26.1.5``);
    absent: the run's own engine or reference CLI."""
    if key not in matrix:
        return [""]
    versions = _string_list(matrix, key, fail)
    for entry in versions:
        if not is_tool_version(entry):
            raise fail(key, f"{entry!r} is not a Docker version like '28.5' or '20.10.24'")
    return versions


def _reject_unknown(table: dict, valid: set[str], section: str, fail) -> None:
    unknown = set(table) - valid
    if unknown:
        key = sorted(unknown)[0]
        raise fail(key, f"unknown key (valid: {', '.join(sorted(valid))})", section)


# What a list of each axis looks like, for the line that says a value is not one.
_LIST_EXAMPLES = {
    "scenario": '["seed", "root-owned"]',
    "builder": '["legacy", "buildkit"]',
    "cli_build": '["default", "1"]',
    "sdk": '["auto"]',
    "engine": '["20.10", "28.5"]',
    "cli": '["20.10", "28.5"]',
}


def _string_list(table: dict, key: str, fail, default: list[str] | None = None) -> list[str]:
    if key not in table and default is not None:
        return default
    value = table[key]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        example = _LIST_EXAMPLES.get(key, '["1.20.0"]')
        raise fail(key, f"must be a list of strings, e.g. {example}")
    if not value:
        raise fail(key, "is empty: list at least one value")
    if len(set(value)) != len(value):
        raise fail(key, "lists a value twice")
    return value


def _parse_exclusions(value: object, fail, axes: Mapping[str, Sequence[object]]) -> list[Exclusion]:
    """Exclusions, each able to match a cell: a value outside its axis is a typo."""
    if not isinstance(value, list):
        raise fail(
            "exclude", 'must be a list of tables, e.g. [{cli_build = "1", compose = "<1.25"}]'
        )
    exclusions = []
    for item in value:
        if not isinstance(item, dict) or not item:
            raise fail("exclude", "each entry must be a non-empty table")
        unknown = set(item) - _EXCLUDE_KEYS
        if unknown:
            raise fail(
                "exclude",
                f"unknown key {sorted(unknown)[0]!r} (valid: {', '.join(sorted(_EXCLUDE_KEYS))})",
            )
        if not all(isinstance(v, str) for v in item.values()):
            raise fail("exclude", "values must be strings")
        try:
            SpecifierSet(item.get("compose", ""))
        except InvalidSpecifier:
            raise fail("exclude", f"compose {item['compose']!r} is not a PEP 440 range") from None
        if "builder" in item:
            try:
                item = {**item, "builder": Builders.parse(item["builder"])}
            except UserError as error:
                raise fail("exclude", str(error)) from None
        for key, listed in axes.items():
            if key in item and item[key] not in listed:
                raise fail(
                    "exclude",
                    f"{key} = {str(item[key])!r} can never match: [matrix] {key} lists "
                    f"{', '.join(map(str, listed))}",
                )
        exclusions.append(Exclusion(**item))
    return exclusions


def _parse_run(value: object, fail) -> RunOptions:
    if not isinstance(value, dict):
        raise fail("run", "must be a table", "run")
    _reject_unknown(value, _RUN_KEYS, "run", fail)
    defaults = RunOptions()
    order = value.get("order", defaults.order)
    if order not in ORDERS:
        raise fail("order", f"{order!r} is not one of {', '.join(ORDERS)}", "run")
    seconds = {}
    for key in ("timeout", "install_timeout"):
        problem = seconds_problem(value.get(key, getattr(defaults, key)))
        if problem:
            raise fail(key, problem, "run")
        seconds[key] = float(value.get(key, getattr(defaults, key)))
    ids = {}
    for key in ("uid", "gid"):
        number = value.get(key, getattr(defaults, key))
        problem = id_problem(number)
        if problem:
            raise fail(key, problem, "run")
        ids[key] = int(number)
    flags = {}
    for key in ("explain", "remedies"):
        flags[key] = value.get(key, getattr(defaults, key))
        if not isinstance(flags[key], bool):
            raise fail(key, "must be true or false", "run")
    cli = value.get("cli", defaults.cli)
    if cli is not None and (not isinstance(cli, str) or not cli):
        raise fail("cli", "must be the path (or name on PATH) of a docker CLI", "run")
    jobs = value.get("jobs")
    if jobs is not None:
        problem = jobs_problem(jobs)
        if problem:
            raise fail("jobs", problem, "run")
    return RunOptions(
        cli=cli,
        order=order,
        explain=flags["explain"],
        remedies=flags["remedies"],
        jobs=jobs,
        timeout=seconds["timeout"],
        install_timeout=seconds["install_timeout"],
        uid=ids["uid"],
        gid=ids["gid"],
    )


MAX_SECONDS = 7 * 24 * 3600.0


def seconds_problem(value: object) -> str | None:
    """Why ``value`` is not a usable number of seconds (None: it is)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "must be a positive number of seconds"
    if not math.isfinite(value) or not 0 < value <= MAX_SECONDS:
        return f"must be a positive number of seconds, at most {MAX_SECONDS:.0f}"
    return None


def jobs_problem(value: object) -> str | None:
    """Why ``value`` is not a usable number of parallel cells (None: it is)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_JOBS:
        return f"must be a whole number of cells at once, from 1 to {MAX_JOBS}"
    return None


def default_jobs(cpus: int | None) -> int:
    """Cells at once when nobody said: one per CPU, at most DEFAULT_JOBS_CAP."""
    return max(1, min(cpus or 1, DEFAULT_JOBS_CAP))


def id_problem(value: object) -> str | None:
    """Why ``value`` is not a usable uid/gid (None: it is)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
        return "must be an integer id from 0 to 2147483647 (0 means root)"
    return None


def _line_of(text: str, section: str, key: str) -> int | None:
    """The 1-based line where ``key`` is set inside ``[section]`` (best effort)."""
    current = ""  # keys before any [section] header are top-level
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for number, line in enumerate(text.splitlines(), start=1):
        header = re.match(r"^\s*\[+\s*([\w.-]+)\s*\]+", line)
        if header:
            current = header.group(1).split(".")[0]
            continue
        if current == section and pattern.match(line):
            return number
    return None
