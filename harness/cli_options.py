"""Command-line options shared by repro, matrix and bisect, defined once."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.config import CLI_BUILDS
from harness.runner import BadInput


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
    add_project(p)


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
        raise BadInput("--project and --service go together")
    return (str(args.project.resolve()), args.service) if args.project else (None, None)


def scenario_of(args: argparse.Namespace) -> str:
    return "project" if args.project else args.scenario
