"""The two builders under comparison, run as the seed's user ran them, from the context folder.

The reference is the Docker CLI (legacy builder, or BuildKit); the other is the venv's
``docker-compose build``. Both get the same minimal environment, so nothing from the caller's
shell (another DOCKER_BUILDKIT, a proxy, a config) leaks into one of them only. BuildKit RUN
steps use no network (``--network=none``; compose ``build.network: none``): an engine without
a default bridge cannot give them one, and both sides must ask for the same.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

from harness.core.buildkind import Builder
from harness.core.errors import UserError
from harness.core.model import CliInfo
from harness.edges.process import Completed, run

_PASS_THROUGH = ("HOME", "LANG", "LC_ALL", "DOCKER_CONFIG", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY")


class CliMissing(UserError):
    """No docker CLI to use as the reference builder."""


def find_cli(name: str = "docker") -> CliInfo:
    """The reference CLI (first on PATH unless a path is given) and its version."""
    path = shutil.which(name)
    if path is None:
        raise CliMissing(f"no docker CLI found ({name!r}): install the docker client")
    path = os.path.abspath(path)  # builds run in the cell's folder: "./docker" is not there
    completed = run([path, "--version"], env=os.environ, timeout=30)
    match = re.search(r"version ([^\s,]+)", completed.output)
    return CliInfo(path=path, version=match.group(1) if match else "unknown")


def has_buildkit(cli: CliInfo) -> bool:
    """Whether ``docker build`` of this CLI can use BuildKit: built in up to 20.10, through
    the buildx plugin (found in the CLI's DOCKER_CONFIG or the system's plugin folders)
    from 23 on. Asked of the CLI itself."""
    match = re.match(r"(\d+)\.", cli.version)
    if match and int(match.group(1)) < 23:
        return True
    env = {**os.environ, **({"DOCKER_CONFIG": cli.config} if cli.config else {})}
    return run([cli.path, "buildx", "version"], env=env, timeout=30).ok


def cli_shim(cli: CliInfo, folder: Path) -> Path:
    """A folder holding only a ``docker`` link to the reference CLI, to put first on PATH."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "docker").symlink_to(cli.path)
    return folder


def build_environment(
    docker_host: str,
    shim: Path,
    cli_build: str,
    builder: Builder = Builder.LEGACY,
    docker_config: str | None = None,
) -> dict[str, str]:
    """What a builder sees: the engine, its builder, and the reference CLI (``shim``) first on
    PATH (docker-compose >=1.25 shells out to ``docker`` when COMPOSE_DOCKER_CLI_BUILD=1);
    a provisioned CLI's own DOCKER_CONFIG (``docker_config``: its buildx plugin) on both
    sides, as one user's machine has one configuration."""
    env = {key: os.environ[key] for key in _PASS_THROUGH if key in os.environ}
    if docker_config:
        env["DOCKER_CONFIG"] = docker_config
    env["PATH"] = os.pathsep.join([str(shim), os.environ.get("PATH", "")])
    env["DOCKER_HOST"] = docker_host
    if builder is not Builder.DEFAULT:  # default: as typed, each tool picks its own
        env["DOCKER_BUILDKIT"] = "1" if builder is Builder.BUILDKIT else "0"
    env["COMPOSE_INTERACTIVE_NO_CLI"] = "1"
    if cli_build != "default":
        env["COMPOSE_DOCKER_CLI_BUILD"] = cli_build
    return env


def cli_build(
    cli: CliInfo,
    project: Path,
    tag: str,
    options: Sequence[str],
    context: str,
    env: dict[str, str],
    timeout: float,
    buildkit: bool = False,
) -> Completed:
    """``docker build`` with the compose service's ``options`` (and any a remedy adds), from
    the project folder."""
    extra = ["--network=none", "--progress=plain"] if buildkit else []
    return run(
        [cli.path, "build", "--tag", tag, *extra, *options, context],
        env=env,
        cwd=project,
        timeout=timeout,
    )


def compose_build(
    compose: Path,
    project: Path,
    name: str,
    service: str,
    env: dict[str, str],
    timeout: float,
    files: Sequence[Path],
) -> Completed:
    """``docker-compose build SERVICE`` from the project folder, under our project name, with
    the compose ``files`` in order (the project's own, then the cell's image name)."""
    named = [argument for path in files for argument in ("--file", str(path))]
    return run(
        [str(compose), "--project-name", name, *named, "build", service],
        env=env,
        cwd=project,
        timeout=timeout,
    )


def clis_on_path() -> list[CliInfo]:
    """Every distinct ``docker`` executable on PATH (a link and its target count once), with
    the version each says it is: the other CLIs a remedy can try."""
    found: dict[str, CliInfo] = {}
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(folder or ".") / "docker"
        if not (candidate.is_file() and os.access(candidate, os.X_OK)):
            continue
        real = str(candidate.resolve())
        if real not in found:
            found[real] = find_cli(str(candidate))
    return list(found.values())
