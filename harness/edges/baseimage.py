"""A base image per cell, so no cell can reuse another cell's (or the user's) layer cache.

The legacy builder's cache key of a step starts from its parent image ID. Each cell imports
its own base (a rootfs with the static busybox, or the Dockerfile's registry image plus a
label), carrying the cell's label: every image and container the builds derive from it
inherits the label, which is how cleanup finds exactly what the harness created.
"""

from __future__ import annotations

import io
import shutil
import struct
import tarfile
from pathlib import Path

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
    dockerfile = f"FROM {original_from}\n" + "".join(
        f'LABEL {key}="{value}"\n' for key, value in labels.items()
    )
    try:
        client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True)
    except docker.errors.DockerException as error:
        raise BaseImageError(
            f"cannot make a base from {original_from} (does the engine reach a registry?): "
            f"{str(error).splitlines()[0][:200]}"
        ) from None
    return tag
