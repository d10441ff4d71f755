"""Build contexts made the way a developer's checkout looks, on purpose.

docker-py writes each file's uid/gid/uname/gname into the context tar; the CLI writes 0:0.
When the checkout is owned by root the two agree and the cache miss vanishes, so the harness
copies the fixture to a fresh folder and sets the owner (default 1000:1000) and the modes a
checkout with the scenario's umask has (022: 0644 files, 0755 folders), instead of inheriting
whatever the clone has. A user's own project is copied as it is (``cp -a``), and nothing the
harness writes ever reaches the user's folder: every change is a fresh file of the copy.
"""

from __future__ import annotations

import os
import shutil
import stat
import struct
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.core.composefile import ServiceBuild, service_build
from harness.core.dockerfile import replace_from, rewrite_bases
from harness.core.errors import UserError
from harness.core.model import Owner
from harness.core.scenarios import Scenario

COMPOSE_FILES = ("docker-compose.yml", "docker-compose.yaml")
OVERRIDE_FILES = ("docker-compose.override.yml", "docker-compose.override.yaml")


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


def compose_files(folder: Path) -> list[Path]:
    """The files docker-compose reads from ``folder`` when given none: the compose file and
    its override file, if there is one (``-f`` turns that default off, so it is named)."""
    overrides = [folder / name for name in OVERRIDE_FILES if (folder / name).is_file()]
    return [compose_file(folder), *overrides[:1]]


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


class ContextError(UserError):
    """The working copy cannot be made without changing the user's files, or cannot be the
    same as what the clients would send from the user's folder; the cell is an error."""


def materialize(
    scenario: Scenario, target: Path, base_image: str | Mapping[int, str], owner: Owner | None
) -> BuildContext:
    """Copy the scenario's folder into ``target`` (which must not exist) as a build context,
    with the chosen Dockerfile where the compose file expects it and its FROM on our base
    (``base_image``: one for every external image, or one per stage index).

    A user's project is copied faithfully (``cp -a``: owners, modes with special bits, hard
    links, xattrs, fifos, links as links); only the FROM of the built Dockerfile changes, in a
    fresh file of the copy. No write goes through a link: a Dockerfile that is a link gets its
    new text in the copy (or beside it), never in what the link points to. A harness fixture
    leaves out the Dockerfile variants its scenario does not build.
    """
    source = scenario.fixture_dir()
    build = read_service_build(scenario)
    wanted = Path(build.dockerfile_path)
    variant = Path(scenario.dockerfile)
    if scenario.owner == "preserve":  # a user's project: every file, as it is
        copy_faithfully(source, target)
    else:
        shutil.copytree(
            source,
            target,
            symlinks=True,
            ignore=lambda folder, names: _other_variants(
                source, Path(folder), names, {wanted, variant}
            ),
        )
        if variant != wanted:
            (target / wanted).unlink(missing_ok=True)
            shutil.copyfile(source / variant, target / wanted, follow_symlinks=False)
            (target / variant).unlink(missing_ok=True)

    def on_our_base(text: str) -> str:
        if isinstance(base_image, str):
            return replace_from(text, base_image, build.args)
        return rewrite_bases(text, base_image)  # each stage's FROM on its own base

    rewrite_in_copy(source, target, wanted, on_our_base, target.parent)
    _make_special_entries(target, scenario)
    if owner is not None:
        _normalise(target, owner, scenario)
    for path in scenario.capabilities:  # after the owner: chown clears security.capability
        _set_capability(target / path)
    return BuildContext(target, target / wanted, build, owner)


# security.capability as ``setcap cap_net_raw+ep`` writes it (VFS_CAP_REVISION_2: magic and
# effective flag, then permitted and inheritable words for capabilities 0-31 and 32-63).
NET_RAW_CAPABILITY = struct.pack("<5I", 0x02000001, 1 << 13, 0, 0, 0)


def _make_special_entries(root: Path, scenario: Scenario) -> None:
    """The entries of a scenario git cannot hold: hard-linked pairs, fifos, unix sockets (a
    socket inode needs no listener: the clients only see its type)."""
    for link, existing in scenario.hard_links:
        (root / link).parent.mkdir(parents=True, exist_ok=True)
        os.link(root / existing, root / link)
    for path in scenario.fifos:
        os.mkfifo(root / path)
    for path in scenario.sockets:
        os.mknod(root / path, stat.S_IFSOCK | 0o644)


def _set_capability(path: Path) -> None:
    try:
        os.setxattr(path, "security.capability", NET_RAW_CAPABILITY)
    except OSError as error:
        raise ContextError(
            f"cannot give {path.name} a capability as setcap does: {error.strerror}"
        ) from None


def copy_faithfully(source: Path, target: Path) -> None:
    """``cp -a``: everything a client reads from a folder (owners, modes, special bits after
    owners, hard-link pairs, xattrs such as security.capability, fifos, links as links)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(
            [
                "cp",
                "-a",
                "--preserve=xattr",
                "--no-target-directory",
                "--",
                str(source),
                str(target),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    except subprocess.CalledProcessError as error:
        lines = (error.stderr or "").strip().splitlines() or [f"exit status {error.returncode}"]
        raise ContextError(f"the project cannot be copied faithfully: {lines[-1]}") from None


def rewrite_in_copy(
    source: Path, copy: Path, relative: Path, change: Callable[[str], str], spare: Path
) -> Path:
    """Give the file a client reads at ``copy/relative`` the text ``change`` makes, writing
    only into the copy or ``spare`` (a folder of the harness beside it); the path written.

    A link on the way that points into the user's folder by an absolute path is re-pointed
    to the same place in the copy (a client follows it there); a last link that leads out
    of the project gets a fresh file where it leads in ``spare``, else is re-pointed to one.
    A link in a folder that is not the copy's is never changed: that case is a ContextError.
    """
    path = copy / relative
    home = _real(copy)
    for _ in range(40):  # as many links as the kernel follows
        if not _repoint_one(source, copy, path, home):
            break
    real = _real(path)
    if real.is_relative_to(home) and real.is_file():
        if real.lstat().st_nlink > 1:
            raise ContextError(
                f"{relative} is hard-linked to another file of the project: a new FROM in it "
                "would change that file too"
            )
        replace_file(real, change(real.read_text()), like=real)
        return real
    origin = _real(source / relative)  # what the link reaches from the user's folder
    if not origin.is_file():
        raise ContextError(f"{relative} is not a file the harness can read in the project")
    if not (path.is_symlink() and _real(path.parent).is_relative_to(home)):
        raise ContextError(
            f"{relative} lies outside the project folder: its FROM cannot be changed without "
            "changing the user's file"
        )
    if real.is_relative_to(_real(spare)) and not os.path.lexists(real):
        real.parent.mkdir(parents=True, exist_ok=True)  # where the link leads, beside the copy
        replace_file(real, change(origin.read_text()), like=origin)
        return real
    spare.mkdir(parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(prefix="linked-", dir=spare)) / relative.name
    replace_file(fresh, change(origin.read_text()), like=origin)
    relink(path, str(fresh))
    return fresh


def rewrite_dockerfile(context: BuildContext, change: Callable[[str], str]) -> None:
    """Change the built Dockerfile again (COPY --from images, a remedy's --chown): past
    ``materialize`` it is, links resolved, a file of the harness's own (in the copy or beside
    it), and it gets a fresh file; never a write through a link."""
    real = _real(context.dockerfile)
    if not real.is_relative_to(_real(context.path.parent)) or real.lstat().st_nlink > 1:
        raise ContextError(f"{context.dockerfile.name} is not a file of the working copy")
    replace_file(real, change(real.read_text()), like=real)


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _repoint_one(source: Path, copy: Path, path: Path, home: Path) -> bool:
    """Re-point the first link on the way to ``path`` (in a folder of the copy) whose absolute
    target lies in the user's folder; False when there is none left."""
    roots = {str(source), os.path.realpath(source)}
    parts = path.relative_to(copy).parts
    for count in range(1, len(parts) + 1):
        step = copy.joinpath(*parts[:count])
        if not step.is_symlink() or not _real(step.parent).is_relative_to(home):
            continue
        target = os.readlink(step)
        for root in roots:
            if os.path.isabs(target) and Path(target).is_relative_to(root):
                relink(step, str(_real(copy) / Path(target).relative_to(root)))
                return True
    return False


def relink(link: Path, target: str) -> None:
    """Replace the link ``link`` (in a folder of ours) by one to ``target``, keeping its owner."""
    status = link.lstat()
    link.unlink()
    os.symlink(target, link)
    if os.geteuid() == 0:
        os.lchown(link, status.st_uid, status.st_gid)


def replace_file(path: Path, text: str, like: Path) -> None:
    """Write ``text`` as a fresh file at ``path`` (unlink, then create: never through a link
    or into a hard-linked twin) with the owner, mode and xattrs ``like`` had, and a new mtime:
    BuildKit's file sync trusts size and mtime, so a rewritten FROM line of the same length
    under the old mtime was read from a stale session cache (another cell's base).

    The owner is set first: the kernel clears setuid/setgid bits and security.capability on
    chown, so the mode and xattrs come after it.
    """
    status = like.stat()
    xattrs = {name: os.getxattr(like, name) for name in _xattr_names(like)}
    parent = path.parent.lstat()
    path.unlink(missing_ok=True)
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(handle, "w", encoding="utf-8", errors="surrogateescape") as stream:
        stream.write(text)
        if os.geteuid() == 0:
            os.fchown(stream.fileno(), status.st_uid, status.st_gid)
        os.fchmod(stream.fileno(), stat.S_IMODE(status.st_mode))
        for name, value in xattrs.items():
            os.setxattr(stream.fileno(), name, value)
    os.utime(path.parent, ns=(parent.st_atime_ns, parent.st_mtime_ns), follow_symlinks=False)


def _xattr_names(path: Path) -> list[str]:
    try:
        return os.listxattr(path)
    except OSError:  # a file system without xattrs
        return []


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
