"""The scenarios on disk: the harness's own fixtures and a user's compose project."""

from __future__ import annotations

from pathlib import Path

from harness.core.composefile import ComposeFileError, service_build
from harness.core.dockerfile import DockerfileError, from_image
from harness.core.scenarios import Scenario, ScenarioError, parse_scenarios
from harness.edges.context import compose_file

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
        source = compose_file(folder)
    except OSError as error:
        raise ScenarioError(f"--project {path}: {error}") from None
    try:
        build = service_build(source.read_text(encoding="utf-8"), service)
    except (OSError, UnicodeError, ComposeFileError) as error:
        raise ScenarioError(f"--project {path}: {source.name}: {error}") from None
    _check_dockerfile(path, folder, service, build.dockerfile_path)
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


def _check_dockerfile(path: Path, folder: Path, service: str, dockerfile: str) -> None:
    """The Dockerfile the service builds exists and has a FROM: found now, not mid-cell."""
    try:
        from_image((folder / dockerfile).read_text(encoding="utf-8", errors="replace"))
    except OSError as error:
        raise ScenarioError(
            f"--project {path}: service {service!r} builds {dockerfile}, which cannot be "
            f"read ({error.strerror or error})"
        ) from None
    except DockerfileError as error:  # what the builder would refuse too
        raise ScenarioError(f"--project {path}: {dockerfile}: {error}") from None
