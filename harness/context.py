"""Build contexts made the way a developer's checkout looks, on purpose.

docker-py writes each file's uid/gid/uname/gname into the context tar; the CLI writes 0:0.
When the checkout is owned by root the two agree and the cache miss vanishes, so the harness
copies the fixture to a fresh folder and sets the owner (default 1000:1000) and normal modes
(0644 files, 0755 folders: umask 022) instead of inheriting whatever the clone has.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from harness.dockerfile import replace_from
from harness.scenarios import Scenario


@dataclass(frozen=True)
class Owner:
    uid: int
    gid: int


@dataclass(frozen=True)
class BuildContext:
    path: Path
    dockerfile: Path
    owner: Owner


def owner_for(scenario: Scenario, uid: int, gid: int) -> Owner:
    return Owner(0, 0) if scenario.owner == "root" else Owner(uid, gid)


def materialize(scenario: Scenario, target: Path, base_image: str, owner: Owner) -> BuildContext:
    """Copy the scenario's fixture into ``target`` (which must not exist) as a build context."""
    source = scenario.fixture_dir()
    target.mkdir(parents=True)
    for item in sorted(source.rglob("*")):
        relative = item.relative_to(source)
        if _is_other_dockerfile(relative, scenario.dockerfile):
            continue
        destination = target / ("Dockerfile" if str(relative) == scenario.dockerfile else relative)
        if item.is_symlink():
            destination.symlink_to(os.readlink(item))
        elif item.is_dir():
            destination.mkdir(exist_ok=True)
        else:
            shutil.copyfile(item, destination)
    dockerfile = target / "Dockerfile"
    dockerfile.write_text(replace_from(dockerfile.read_text(), base_image))
    _normalise(target, owner)
    return BuildContext(target, dockerfile, owner)


def _is_other_dockerfile(relative: Path, chosen: str) -> bool:
    """Dockerfile variants of the fixture that this scenario does not build stay out."""
    name = str(relative)
    return name != chosen and (name == "Dockerfile" or name.startswith("Dockerfile."))


def _normalise(root: Path, owner: Owner) -> None:
    """Give every entry a developer checkout's modes and the chosen owner."""
    can_chown = os.geteuid() == 0
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            if can_chown:
                os.lchown(path, owner.uid, owner.gid)
            continue
        path.chmod(0o755 if path.is_dir() else 0o644)
        if can_chown:
            os.chown(path, owner.uid, owner.gid)


def observed_owner(context: BuildContext) -> Owner:
    """The owner the files really have (not root: we could not chown, the user's own ids)."""
    status = context.dockerfile.stat()
    return Owner(status.st_uid, status.st_gid)
