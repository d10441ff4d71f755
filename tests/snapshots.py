"""What "nothing of the user's changed" means, measured: every entry of a folder and every file
its links reach (inside or outside it), with each field a tool or a cache key could read."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import docker


def _xattrs(path: Path) -> dict[str, str]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    return {name: os.getxattr(path, name, follow_symlinks=False).hex() for name in sorted(names)}


def _fields(path: Path) -> tuple[object, ...]:
    status = path.lstat()
    link = os.readlink(path) if stat.S_ISLNK(status.st_mode) else ""
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if stat.S_ISREG(status.st_mode) else ""
    return (
        stat.S_IFMT(status.st_mode),
        link,
        status.st_uid,
        status.st_gid,
        status.st_mode,
        status.st_mtime_ns,
        status.st_size,
        status.st_ino,
        status.st_nlink,
        digest,
        tuple(_xattrs(path).items()),
    )


def tree_snapshot(root: Path) -> dict[str, tuple[object, ...]]:
    """Every entry under ``root`` (links not followed), then every path a link reaches, and
    everything under a linked folder, by absolute path."""
    seen: dict[str, tuple[object, ...]] = {}
    pending = [root]
    while pending:
        path = pending.pop()
        key = str(path)
        if key in seen or not os.path.lexists(path):
            continue
        seen[key] = _fields(path)
        if path.is_symlink():
            pending.append(Path(os.path.realpath(path)))
        elif path.is_dir():
            pending += sorted(path.iterdir())
    return seen


def engine_snapshot(client: docker.DockerClient) -> dict[str, object]:
    """Every image (with its tags), container, network, volume and build cache entry."""
    images = {image.id: sorted(image.tags) for image in client.images.list(all=True)}
    containers = sorted(c.id for c in client.containers.list(all=True))
    networks = sorted(n.id for n in client.networks.list())
    volumes = sorted(v.id for v in client.volumes.list())
    usage = client.api.df()
    cache = sorted(entry["ID"] for entry in usage.get("BuildCache") or [])
    return {
        "images": images,
        "containers": containers,
        "networks": networks,
        "volumes": volumes,
        "build_cache": cache,
    }
