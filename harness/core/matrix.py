"""The cells of a matrix: matrix.toml's axes expanded against the real release lists (pure).

Ranges become the releases they match (optionally only the latest patch of each minor);
explicit versions must exist. The product of the axes minus the exclusions is the matrix.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import product

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from harness.core.buildkind import Builder
from harness.core.config import ConfigError, MatrixConfig, is_exact_version
from harness.core.model import CellSpec
from harness.core.releases import (
    Release,
    UnknownRelease,
    expand,
    latest_patch_per_minor,
    resolve_bound,
)


def cell_id(spec: CellSpec) -> str:
    """A short readable name: ``1.20.0``, then only what differs from the defaults."""
    parts = [spec.compose]
    if spec.sdk != "auto":
        parts.append(f"sdk{spec.sdk}")
    if spec.cli_build != "default":
        parts.append(f"cli{spec.cli_build}")
    if spec.scenario != "seed":
        parts.append(spec.scenario)
    if not spec.builder.legacy:
        short = {Builder.LEGACY: "legacy", Builder.BUILDKIT: "bk", Builder.DEFAULT: "default"}
        compose, cli = short[spec.builder.compose], short[spec.builder.cli]
        parts.append(compose if spec.builder.same else f"compose{compose}-cli{cli}")
    if spec.engine:
        parts.append(f"e{spec.engine}")
    if spec.cli:
        parts.append(f"c{spec.cli}")
    return "-".join(parts)


def compose_versions(config: MatrixConfig, releases: Sequence[Release]) -> list[str]:
    """The compose releases the matrix covers, in PEP 440 order, as published strings."""
    chosen: dict[Version, str] = {}
    for entry in config.compose:
        if is_exact_version(entry):
            release = _exact(config, "compose", "docker-compose", entry, releases)
            chosen[release.version] = release.text
            continue
        matched = expand(releases, entry, pre=config.pre)
        if config.latest_patch_only:
            matched = latest_patch_per_minor(matched)
        if not matched:
            raise ConfigError(
                f"{config.where('compose')}: [matrix] compose: {entry!r} matches no release"
            )
        chosen.update((release.version, release.text) for release in matched)
    return [chosen[version] for version in sorted(chosen)]


def _exact(
    config: MatrixConfig, key: str, package: str, version: str, releases: Sequence[Release]
) -> Release:
    try:
        release = resolve_bound(releases, version, "low")
    except UnknownRelease as error:
        raise ConfigError(
            f"{config.where(key)}: [matrix] {key}: {version!r} is not a {package} release "
            f"(nearest: {', '.join(r.text for r in error.nearest)})"
        ) from None
    if release.version != Version(version):
        raise ConfigError(f"{config.where(key)}: [matrix] {key}: {version!r} is not a release")
    if len(Version(version).release) < len(release.version.release):
        raise ConfigError(
            f"{config.where(key)}: [matrix] {key}: {version!r} is a series, not a release "
            f"(as in repro): name {release.text!r}, or the range '=={version}.*'"
        )
    return release


def expand_matrix(
    config: MatrixConfig,
    compose_releases: Sequence[Release],
    sdk_releases: Sequence[Release],
    scenarios: Iterable[str],
    project: str | None = None,
    service: str | None = None,
) -> list[CellSpec]:
    """Every cell of the matrix, rows (compose, sdk) in version order, conditions after.

    With a ``project`` (a user's compose folder), it replaces the scenario axis.
    """
    known = set(scenarios)
    for name in () if project else config.scenario:
        if name not in known:
            raise ConfigError(
                f"{config.where('scenario')}: [matrix] scenario: unknown scenario {name!r} "
                f"(known: {', '.join(sorted(known))})"
            )
    for sdk in config.sdk:
        if sdk != "auto":
            _exact(config, "sdk", "docker SDK", sdk, sdk_releases)
    cells = [
        config.run.spec(
            compose=compose,
            sdk=sdk,
            scenario=scenario,
            cli_build=cli_build,
            builder=builder,
            project=project,
            service=service,
            engine=engine,
            cli=cli,
        )
        for engine, cli, compose, sdk, scenario, cli_build, builder in product(
            config.engine,
            config.cli,
            compose_versions(config, compose_releases),
            config.sdk,
            ("project",) if project else config.scenario,
            config.cli_build,
            config.builder,
        )
        if not any(
            rule.matches(compose, sdk, cli_build, scenario, builder, engine, cli)
            for rule in config.exclude
        )
    ]
    compose = [Version(text) for text in compose_versions(config, compose_releases)]
    for rule in config.exclude:
        if rule.compose and not any(v in SpecifierSet(rule.compose) for v in compose):
            raise ConfigError(
                f"{config.where('exclude')}: [matrix] exclude: compose {rule.compose!r} "
                "can never match: no compose release of the matrix is in it"
            )
    if not cells:
        raise ConfigError(f"{config.source}: the exclusions leave no cell to run")
    return cells
