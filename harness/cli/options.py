"""Command-line options shared by repro, matrix and bisect, defined once."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar

from packaging.version import InvalidVersion, Version

from harness.core.buildkind import Builders
from harness.core.config import id_problem, jobs_problem, seconds_problem
from harness.core.debian import is_tool_version
from harness.core.errors import UserError
from harness.core.model import CLI_BUILDS


class OneLineParser(argparse.ArgumentParser):
    """Bad options are one line (which option, why) instead of usage text plus the error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def release(text: str) -> str:
    """A release as typed: PEP 440 syntax, checked before anything is fetched."""
    try:
        Version(text)
    except InvalidVersion:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a version (e.g. 1.29.2 or 2.40.3)"
        ) from None
    return text


def release_or_auto(text: str) -> str:
    return text if text == "auto" else release(text)


Number = TypeVar("Number", int, float)


def _checked(
    text: str, convert: Callable[[str], Number], kind: str, problem: Callable[[Number], str | None]
) -> Number:
    """An option value converted, then checked as ``[run]`` checks the same setting."""
    try:
        value = convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {kind}") from None
    found = problem(value)
    if found:
        raise argparse.ArgumentTypeError(f"{text!r} {found}")
    return value


def seconds(text: str) -> float:
    return _checked(text, float, "a number of seconds", seconds_problem)


def owner_id(text: str) -> int:
    return _checked(text, int, "an integer id", id_problem)


def jobs(text: str) -> int:
    return _checked(text, int, "a whole number", jobs_problem)


def add_config(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--config", type=Path, default=Path("matrix.toml"), help=f"{what} (default: matrix.toml)"
    )


def add_condition(p: argparse.ArgumentParser) -> None:
    """The condition a cell is built under: scenario (or project) and COMPOSE_DOCKER_CLI_BUILD."""
    p.add_argument("--scenario", default="seed", help="scenario from fixtures/scenarios.toml")
    p.add_argument(
        "--cli-build",
        choices=CLI_BUILDS,
        default="default",
        help="COMPOSE_DOCKER_CLI_BUILD for docker-compose ('default' = unset)",
    )
    p.add_argument(
        "--builder",
        type=builder,
        default="legacy",
        metavar="BUILDER",
        help="legacy (the default here) or buildkit for both builds, or per side to cross "
        "them: compose=buildkit,cli=legacy (a side not named is legacy); or 'default': "
        "neither side is told (no DOCKER_BUILDKIT), as people type the commands, and the "
        "result records the builder each side's log shows it used. BuildKit RUN steps run "
        "with no network; docker-compose 1.x reaches BuildKit only with the CLI build",
    )
    p.add_argument(
        "--cli",
        metavar="PATH|VERSION",
        help="the reference docker CLI (recorded with its version); also the `docker` "
        "docker-compose 1.x runs with COMPOSE_DOCKER_CLI_BUILD=1 (default: [run] cli, "
        "else docker on PATH). A version like 28.5 fetches Debian's CLI of that version "
        "(with its buildx plugin from 23 on) into the harness's cache. BuildKit needs a CLI "
        "that has it built in (20.10) or buildx",
    )
    p.add_argument(
        "--engine",
        metavar="HOST|VERSION",
        help="the Docker engine to build on: an address (unix://, tcp://, ssh://), or a "
        "version like 28.5 for a private engine of Debian's dockerd of that version, fetched "
        "into the harness's cache, started for the run and stopped after it (default: "
        "DOCKER_HOST, else the default socket, else a private engine of the machine's dockerd)",
    )
    add_project(p)


def builder(text: str) -> Builders:
    """A --builder value."""
    try:
        return Builders.parse(text)
    except UserError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_project(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--project",
        type=Path,
        metavar="PATH",
        help="your own compose project folder instead of a scenario (copied, never "
        "modified); needs --service",
    )
    p.add_argument("--service", metavar="NAME", help="the service of --project to build")


def project_of(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """The (absolute project path, service) the user named, or (None, None)."""
    if bool(args.project) != bool(args.service):
        raise UserError("--project and --service go together")
    return (str(args.project.resolve()), args.service) if args.project else (None, None)


PUBLISHED_RESULTS = Path("results")  # the harness's own matrix, committed and published


def add_results(p: argparse.ArgumentParser, holds: str) -> None:
    p.add_argument(
        "--results",
        type=Path,
        metavar="DIR",
        help=f"result folder: {holds} (default: results; with --project, "
        "results/projects/FOLDER, FOLDER the project folder's name)",
    )


def results_of(args: argparse.Namespace) -> Path:
    """The result folder: --results, else a user's project's own folder (its runs never
    replace the harness's published results), else the published one."""
    if args.results is not None:
        return Path(args.results)
    if args.project:
        return PUBLISHED_RESULTS / "projects" / args.project.resolve().name
    return PUBLISHED_RESULTS


def project_named(args: argparse.Namespace) -> tuple[str, str] | None:
    """--project by its folder's name, and --service, for a reproduce line: it is published,
    and where the project lies on this machine is nobody else's business."""
    return (args.project.resolve().name, args.service) if args.project else None


def scenario_of(args: argparse.Namespace) -> str:
    return "project" if args.project else args.scenario


def split_tool(text: str | None) -> tuple[str, str | None]:
    """``--cli``/``--engine`` as typed -> (a version to provision, else ""; a path or host,
    else None). A version is digits and dots (``28.5``); anything else is a path or host."""
    if text is None:
        return "", None
    return (text, None) if is_tool_version(text) else ("", text)


def add_remedies(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--remedies",
        action="store_true",
        help="for each diverged cell, try every remedy that applies (COMPOSE_DOCKER_CLI_BUILD=1, "
        "for a proven request-level cause the docker build flag that sends what compose sent "
        "and the compose key removed, --chown, BuildKit, a root-owned checkout, docker CLI "
        "20.10 or 28.5 fetched by version or another on PATH, the nearest compose release "
        "that shares) as a cell of its own on the same engine, and lead with the cheapest "
        "that makes the two builds share (default: [run] remedies)",
    )
