"""The scenarios on disk: the harness's own fixtures and a user's compose project."""

from __future__ import annotations

from pathlib import Path

from harness.core.scenarios import Scenario, ScenarioError, parse_scenarios
from harness.edges.context import read_compose_build

FIXTURES = Path(__file__).resolve().parent.parent.parent / "fixtures"


def load_scenarios(root: Path = FIXTURES) -> dict[str, Scenario]:
    return parse_scenarios((root / "scenarios.toml").read_text(), str(root))


def get_scenario(name: str, root: Path = FIXTURES) -> Scenario:
    scenarios = load_scenarios(root)
    if name not in scenarios:
        raise ScenarioError(f"unknown scenario {name!r} (known: {', '.join(sorted(scenarios))})")
    return scenarios[name]


def project_scenario(path: Path, service: str) -> Scenario:
    """A user's own compose project as a scenario: copied as it is (owners and modes kept),
    built on its own base images (derived per cell), never modified in place."""
    folder = path.resolve()
    if not folder.is_dir():
        raise ScenarioError(f"--project {path}: not a folder")
    try:
        build = read_compose_build(folder, service)
    except (OSError, ValueError) as error:
        raise ScenarioError(f"--project {path}: {error}") from None
    return Scenario(
        name="project",
        description=f"the user's project {folder.name}, service {service}",
        varies="nothing: the project exactly as it is checked out",
        fixture=str(folder),
        dockerfile=build.dockerfile_path,
        service=service,
        base="registry",
        owner="preserve",
    )
