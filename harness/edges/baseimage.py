"""A base image per cell, so no cell can reuse another cell's (or the user's) layer cache.

The legacy builder's cache key of a step starts from its parent image ID. Each cell imports
its own base (a rootfs with the static busybox, or the Dockerfile's image plus a label, its
ONBUILD triggers kept armed), carrying the cell's label: every image and container the builds
derive from it inherits the label, which is how cleanup finds exactly what the harness created.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import struct
import tarfile
import tempfile
from pathlib import Path
from typing import IO

import docker

from harness.core.errors import RemoteError
from harness.core.labels import cell_labels
from harness.edges.runs import current_run


class BaseImageError(RemoteError):
    """The base image could not be made; the message says what to install or fix."""


def find_static_busybox() -> Path:
    found = shutil.which("busybox")
    if found is None:
        raise BaseImageError(
            "busybox is not installed: install the static busybox (busybox-static)"
        )
    path = Path(found).resolve()
    if not is_static_elf(path.read_bytes()):
        raise BaseImageError(f"{found} is dynamically linked: install the static busybox")
    return path


def is_static_elf(data: bytes) -> bool:
    """True for an ELF executable without a PT_INTERP header (no dynamic loader needed)."""
    if data[:4] != b"\x7fELF":
        return False
    is_64 = data[4] == 2
    endian = "<" if data[5] == 1 else ">"
    if is_64:
        phoff, phentsize, phnum = (
            struct.unpack_from(endian + "Q", data, 0x20)[0],
            *struct.unpack_from(endian + "HH", data, 0x36),
        )
    else:
        phoff, phentsize, phnum = (
            struct.unpack_from(endian + "I", data, 0x1C)[0],
            *struct.unpack_from(endian + "HH", data, 0x2A),
        )
    for index in range(phnum):
        (p_type,) = struct.unpack_from(endian + "I", data, phoff + index * phentsize)
        if p_type == 3:  # PT_INTERP
            return False
    return True


def busybox_rootfs(busybox: Path) -> bytes:
    """A minimal root filesystem tar: /bin/busybox, /bin/sh and the usual top folders."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for folder in ("bin", "etc", "tmp", "usr", "usr/src", "var"):
            info = tarfile.TarInfo(folder)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if folder == "tmp" else 0o755
            tar.addfile(info)
        data = busybox.read_bytes()
        info = tarfile.TarInfo("bin/busybox")
        info.size = len(data)
        info.mode = 0o755
        tar.addfile(info, io.BytesIO(data))
        for applet in ("sh", "mkdir", "echo", "cat", "ls", "touch"):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type = tarfile.SYMTYPE
            link.linkname = "busybox"
            tar.addfile(link)
    return buffer.getvalue()


def create_base(
    client: docker.DockerClient, base: str, original_from: str, cell_id: str, number: int = 0
) -> str:
    """Make this cell's base image (its ``number``-th, one per external image) and return its
    tag."""
    tag = f"cache-bisect/base:{cell_id}" + (f"-{number}" if number else "")
    labels = cell_labels(cell_id, current_run())
    if base == "busybox":
        changes = [f'LABEL {key}="{value}"' for key, value in labels.items()]
        client.api.import_image_from_data(
            busybox_rootfs(find_static_busybox()),
            repository="cache-bisect/base",
            tag=tag.split(":", 1)[1],
            changes=changes,
        )
        return tag
    parent = _local_or_pulled(client, original_from)
    try:
        if client.api.inspect_image(parent)["Config"].get("OnBuild"):
            _relabelled_copy(client, parent, tag, labels)
            return tag
        # One LABEL step: a step per label leaves intermediates without the cell's label,
        # which no cleanup finds when the build is interrupted.
        dockerfile = f"FROM {original_from}\nLABEL " + " ".join(
            f'{key}="{value}"' for key, value in labels.items()
        )
        client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True)
    except docker.errors.DockerException as error:
        raise BaseImageError(
            f"cannot make a base from {original_from}: {str(error).splitlines()[0][:200]}"
        ) from None
    return tag


def _relabelled_copy(
    client: docker.DockerClient, parent: str, tag: str, labels: dict[str, str]
) -> None:
    """Load a copy of ``parent`` (same layers and config) with our labels added, as ``tag``.

    An image with ONBUILD triggers cannot be derived by a build (the build runs the triggers
    and clears them, so the measured builds would not), nor by a commit (the engine gives the
    commit the creating container's command); a saved copy keeps everything but the labels.
    """
    with tempfile.TemporaryDirectory(prefix="cache-bisect-base-") as folder:
        saved, loaded = Path(folder) / "saved.tar", Path(folder) / "loaded.tar"
        with saved.open("wb") as out:
            for chunk in client.images.get(parent).save(named=False):
                out.write(chunk)
        with tarfile.open(saved) as source, tarfile.open(loaded, "w") as target:
            manifest = json.load(_member(source, "manifest.json"))
            config = json.load(_member(source, manifest[0]["Config"]))
            own = config.setdefault("config", {})
            own["Labels"] = {**(own.get("Labels") or {}), **labels}
            body = json.dumps(config).encode()
            name = f"{hashlib.sha256(body).hexdigest()}.json"
            manifest[0].update(Config=name, RepoTags=[tag])
            skip = {"manifest.json", "repositories", manifest[0]["Config"]}
            for member in source.getmembers():
                if member.name not in skip:
                    target.addfile(member, source.extractfile(member) if member.isfile() else None)
            for entry, data in ((name, body), ("manifest.json", json.dumps(manifest).encode())):
                info = tarfile.TarInfo(entry)
                info.size = len(data)
                target.addfile(info, io.BytesIO(data))
        with loaded.open("rb") as stream:
            client.images.load(stream.read())


def _member(archive: tarfile.TarFile, name: str) -> IO[bytes]:
    found = archive.extractfile(name)
    if found is None:
        raise BaseImageError(f"the saved image has no {name}")
    return found


def in_engine_or_pullable(client: docker.DockerClient, image: str, engine: str) -> bool:
    """True when the engine has ``image``; False when it lacks it but can pull it (its
    registry knows it: asked without pulling). Neither is a BaseImageError naming the way out,
    so a run stops before it installs anything instead of failing mid-cell."""
    try:
        client.images.get(image)
        return True
    except docker.errors.ImageNotFound:
        pass
    except docker.errors.DockerException as error:
        raise BaseImageError(f"cannot ask {engine} for {image}: {str(error)[:160]}") from None
    try:
        client.api.inspect_distribution(image)
        return False
    except docker.errors.DockerException as error:
        raise BaseImageError(_missing(image, engine, error)) from None


def _missing(image: str, engine: str, error: Exception) -> str:
    said = getattr(error, "explanation", None) or str(error)  # the engine's words, if any
    reason = " ".join(str(said).split())[:160]
    return (
        f"{image} is not in {engine} and cannot be pulled ({reason}): point DOCKER_HOST or "
        "--engine at the engine that has it"
    )


def _local_or_pulled(client: docker.DockerClient, image: str) -> str:
    """The image's ID in this engine, pulled first if the engine does not have it."""
    try:
        return str(client.images.get(image).id)
    except docker.errors.ImageNotFound:
        pass
    try:
        return str(client.images.pull(image).id)
    except docker.errors.DockerException as error:
        raise BaseImageError(_missing(image, "the engine", error)) from None
