"""The scenarios on disk: the harness's own fixtures and a user's compose project."""

from __future__ import annotations

import functools
import os
from pathlib import Path

from harness.core.composefile import ComposeFileError, ServiceBuild, service_build
from harness.core.dockerfile import DockerfileError, check_bases
from harness.core.scenarios import Scenario, ScenarioError, parse_scenarios
from harness.edges.context import COMPOSE_FILES, compose_file

FIXTURES = Path(__file__).resolve().parent.parent.parent / "fixtures"


def load_scenarios(root: Path = FIXTURES) -> dict[str, Scenario]:
    """Every scenario, each checked against its fixture folder (a file it names that is not
    there is one line now, before the engine starts, not a traceback mid-cell). Read once
    per process: every cell of a run sees the scenarios as they were when it began, even
    when scenarios.toml is edited, or caught half-saved, while the run goes on."""
    return dict(_read_scenarios(root.resolve()))


@functools.cache
def _read_scenarios(root: Path) -> dict[str, Scenario]:
    scenarios = parse_scenarios((root / "scenarios.toml").read_text(), str(root))
    for scenario in scenarios.values():
        _check_fixture(scenario, f"{root.name}/{scenario.fixture}")
    return scenarios


def _check_fixture(scenario: Scenario, shown: str) -> None:
    """The fixture has the scenario's folder, Dockerfile and compose file, every file it
    names (executable, capabilities, the files hard_links link to), and room for each entry
    it makes (a hard link, fifo or socket: a new name in a folder of the fixture)."""
    folder = scenario.fixture_dir()
    where = f"scenario {scenario.name!r}"
    if not folder.is_dir():
        raise ScenarioError(f"{where}: fixture {shown} is not a folder")
    if not any((folder / name).is_file() for name in COMPOSE_FILES):
        raise ScenarioError(f"{where}: no {' or '.join(COMPOSE_FILES)} in {shown}")
    made = {link for link, _ in scenario.hard_links}
    needed = [("dockerfile", scenario.dockerfile)]
    needed += [("executable", path) for path in scenario.executable]
    needed += [("hard_links", existing) for _, existing in scenario.hard_links]
    needed += [("capabilities", path) for path in scenario.capabilities if path not in made]
    for key, path in needed:
        if not (folder / path).is_file():
            raise ScenarioError(f"{where}: {key}: {path!r} is not a file in {shown}")
    new = [("hard_links", link) for link in made]
    new += [("fifos", path) for path in scenario.fifos]
    new += [("sockets", path) for path in scenario.sockets]
    for key, path in new:
        if os.path.lexists(folder / path):
            raise ScenarioError(f"{where}: {key}: {path!r} already exists in {shown}")
        parent = (folder / path).parent
        if key != "hard_links" and not parent.is_dir():  # a hard link's folder is made
            raise ScenarioError(f"{where}: {key}: {path!r} lies in no folder of {shown}")


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
    context = (folder / build.context).resolve()
    where = f"--project {path}: service {service!r} builds {build.context}"
    if not context.is_relative_to(folder):
        raise ScenarioError(f"{where}, which leaves the project folder (through a link)")
    if not context.is_dir():
        raise ScenarioError(f"{where}, which is not a folder")
    _check_dockerfile(path, folder, service, build)
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


def _check_dockerfile(path: Path, folder: Path, service: str, build: ServiceBuild) -> None:
    """The Dockerfile the service builds is readable, UTF-8 text and one the builder accepts
    (with the service's target and build args): found now, before the engine starts, not
    mid-cell."""
    dockerfile = build.dockerfile_path
    where = f"--project {path}: service {service!r} builds {dockerfile}"
    source = folder / dockerfile
    if source.exists() and not (source.is_file() or source.is_dir()):  # reading would block
        raise ScenarioError(f"{where}, which is not a regular file (a fifo, socket or device)")
    try:
        data = source.read_bytes()
    except OSError as error:
        raise ScenarioError(f"{where}, which cannot be read ({error.strerror or error})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ScenarioError(
            f"{where}: line {line} holds byte 0x{data[error.start]:02x}, which is not UTF-8 "
            "(save the Dockerfile as UTF-8)"
        ) from None
    try:
        check_bases(text, build.target, build.args)
    except DockerfileError as error:  # what the builder would refuse too
        raise ScenarioError(f"--project {path}: {dockerfile}: {error}") from None
