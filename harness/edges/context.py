"""Build contexts made the way a developer's checkout looks, on purpose.

docker-py writes each file's uid/gid/uname/gname into the context tar; the CLI writes 0:0.
When the checkout is owned by root the two agree and the cache miss vanishes, so the harness
copies the fixture to a fresh folder and sets the owner (default 1000:1000) and the modes a
checkout with the scenario's umask has (022: 0644 files, 0755 folders), instead of inheriting
whatever the clone has. A user's own project is copied with its owners and modes kept.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from harness.core.composefile import ServiceBuild, service_build
from harness.core.dockerfile import replace_from
from harness.core.scenarios import Scenario

COMPOSE_FILES = ("docker-compose.yml", "docker-compose.yaml")


@dataclass(frozen=True)
class Owner:
    uid: int
    gid: int


@dataclass(frozen=True)
class BuildContext:
    path: Path  # the project folder: where the compose file is and both builds run
    dockerfile: Path
    build: ServiceBuild
    owner: Owner | None  # None: each file keeps its own owner (a user's project)


def compose_file(folder: Path) -> Path:
    for name in COMPOSE_FILES:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"no {' or '.join(COMPOSE_FILES)} in {folder}")


def read_compose_build(folder: Path, service: str) -> ServiceBuild:
    return service_build(compose_file(folder).read_text(), service)


def read_service_build(scenario: Scenario) -> ServiceBuild:
    return read_compose_build(scenario.fixture_dir(), scenario.service)


def context_has(scenario: Scenario, name: str) -> bool:
    """Does the scenario's build context hold a non-empty file ``name`` (e.g. .dockerignore)?"""
    path = scenario.fixture_dir() / read_service_build(scenario).context / name
    return path.is_file() and path.stat().st_size > 0


def owner_for(scenario: Scenario, uid: int, gid: int) -> Owner | None:
    return {"root": Owner(0, 0), "checkout": Owner(uid, gid)}.get(scenario.owner)


def materialize(
    scenario: Scenario, target: Path, base_image: str, owner: Owner | None
) -> BuildContext:
    """Copy the scenario's folder into ``target`` (which must not exist) as a build context,
    with the chosen Dockerfile where the compose file expects it and its FROM on our base.

    A user's project is copied faithfully: every file (other Dockerfiles too), owner and mode;
    only the FROM of the built Dockerfile changes, in the one copy both builders read. A
    harness fixture leaves out the Dockerfile variants its scenario does not build.
    """
    source = scenario.fixture_dir()
    build = read_service_build(scenario)
    wanted = Path(build.dockerfile_path)
    variant = Path(scenario.dockerfile)
    faithful = scenario.owner == "preserve"  # a user's project: every file, as it is
    shutil.copytree(
        source,
        target,
        symlinks=True,
        ignore=None
        if faithful
        else lambda folder, names: _other_variants(source, Path(folder), names, {wanted, variant}),
    )
    if variant != wanted:
        shutil.copyfile(source / variant, target / wanted)
        (target / variant).unlink(missing_ok=True)
    dockerfile = target / wanted
    dockerfile.write_text(replace_from(dockerfile.read_text(), base_image))
    if owner is None:
        _keep_owners(source, target)
    else:
        _normalise(target, owner, scenario)
    return BuildContext(target, dockerfile, build, owner)


def _other_variants(source: Path, folder: Path, names: list[str], keep: set[Path]) -> set[str]:
    """Dockerfile variants of a harness fixture that this scenario does not build stay out."""
    skipped = set()
    for name in names:
        relative = (folder / name).relative_to(source)
        if (name == "Dockerfile" or name.startswith("Dockerfile.")) and relative not in keep:
            skipped.add(name)
    return skipped


def _normalise(root: Path, owner: Owner, scenario: Scenario) -> None:
    """Give every entry the modes of a checkout made with the scenario's umask, and the owner."""
    can_chown = os.geteuid() == 0
    executable = {root / path for path in scenario.executable}
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            full = 0o777 if path.is_dir() or path in executable else 0o666
            path.chmod(full & ~scenario.umask_bits)
        if can_chown:
            os.lchown(path, owner.uid, owner.gid)


def _keep_owners(source: Path, target: Path) -> None:
    """copytree keeps modes but not owners: give each copy its original's uid/gid."""
    if os.geteuid() != 0:
        return
    for path in [target, *target.rglob("*")]:
        original = source / path.relative_to(target)
        if original.exists() or original.is_symlink():
            status = original.lstat()
            os.lchown(path, status.st_uid, status.st_gid)


def observed_owner(context: BuildContext) -> Owner:
    """The owner the Dockerfile really has (not root: we could not chown, the user's ids)."""
    status = context.dockerfile.stat()
    return Owner(status.st_uid, status.st_gid)


def observed_owners(context: BuildContext) -> tuple[str, ...]:
    """Every "uid:gid" among the entries of the context folder and the Dockerfile, in order."""
    folder = context.path / context.build.context
    paths = [folder, context.dockerfile]
    for parent, dirs, files in os.walk(folder, followlinks=False):
        paths += [Path(parent) / name for name in dirs + files]
    seen = {(status.st_uid, status.st_gid) for status in (path.lstat() for path in paths)}
    return tuple(f"{uid}:{gid}" for uid, gid in sorted(seen))
