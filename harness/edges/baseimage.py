"""A base image per cell, so no cell can reuse another cell's (or the user's) layer cache.

The legacy builder's cache key of a step starts from its parent image ID; BuildKit's starts
from the base's layers alone (the chain of its diff IDs: labels do not count), so a base that
differs only by its label let a cell's BuildKit builds hit an earlier cell's cache. Each cell's
base therefore carries a layer of its own, a file naming the cell (``CELL_MARKER``), on top of
a rootfs with the static busybox or of the Dockerfile's image (its ONBUILD triggers kept
armed), or alone where a stage starts ``FROM scratch``; and the cell's label: every image and
container the builds derive from it inherits the label, which is how cleanup finds exactly what
the harness created.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import struct
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import docker

from harness.core.errors import RemoteError
from harness.core.labels import cell_labels
from harness.edges.runs import current_run, workdir_prefix

CELL_MARKER = ".cache-bisect-cell"  # at the base's root: the cell's own layer


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


def busybox_rootfs(busybox: Path, cell_id: str | None = None) -> bytes:
    """A minimal root filesystem tar: /bin/busybox, /bin/sh and the usual top folders, and
    with ``cell_id`` the cell's marker file."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        if cell_id is not None:
            _add_marker(tar, cell_id)
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


def _add_marker(tar: tarfile.TarFile, cell_id: str) -> None:
    data = f"{cell_id}\n".encode()
    info = tarfile.TarInfo(CELL_MARKER)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def marker_layer(cell_id: str) -> bytes:
    """A layer tar holding only the cell's marker file."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        _add_marker(tar, cell_id)
    return buffer.getvalue()


def create_base(
    client: docker.DockerClient,
    base: str,
    original_from: str,
    cell_id: str,
    number: int = 0,
    onbuild: Sequence[str] = (),
) -> str:
    """Make this cell's base image (its ``number``-th, one per external image) and return its
    tag. ``onbuild``: triggers the offline base carries (an import's ``--change``, so they
    stay armed: a build on top would run them itself)."""
    tag = f"cache-bisect/base:{cell_id}" + (f"-{number}" if number else "")
    labels = cell_labels(cell_id, current_run())
    if base == "busybox":
        layer = busybox_rootfs(find_static_busybox(), cell_id)
        _import(client, layer, tag, labels, [f"ONBUILD {trigger}" for trigger in onbuild])
        return tag
    parent = _local_or_pulled(client, original_from)
    try:
        if client.api.inspect_image(parent)["Config"].get("OnBuild"):
            _relabelled_copy(client, parent, tag, labels, cell_id)
            return tag
        # The LABEL step first, in one step: every image of the base's build carries the
        # cell's label, so cleanup finds them even when the build is interrupted.
        dockerfile = (
            f"FROM {original_from}\nLABEL "
            + " ".join(f'{key}="{value}"' for key, value in labels.items())
            + f"\nCOPY {CELL_MARKER} /{CELL_MARKER}\n"
        )
        context = io.BytesIO()
        with tarfile.open(fileobj=context, mode="w") as tar:
            for name, data in (("Dockerfile", dockerfile.encode()), (CELL_MARKER, cell_id)):
                member = tarfile.TarInfo(name)
                body = data.encode() + b"\n" if isinstance(data, str) else data
                member.size = len(body)
                member.mode = 0o644
                tar.addfile(member, io.BytesIO(body))
        context.seek(0)
        client.images.build(fileobj=context, custom_context=True, tag=tag, rm=True)
    except docker.errors.DockerException as error:
        raise BaseImageError(
            f"cannot make a base from {original_from}: {str(error).splitlines()[0][:200]}"
        ) from None
    return tag


def create_scratch_base(client: docker.DockerClient, cell_id: str) -> str:
    """Make this cell's stand-in for ``FROM scratch`` and return its tag: the marker layer
    alone, with the cell's labels.

    ``scratch`` is no image: the legacy builder keys a stage's first step on an empty parent
    ID and BuildKit on an empty layer chain, so every cell (and the user's own builds) would
    share that stage's cache, and its images would carry no label to be removed by. Both
    builders read the same rewritten Dockerfile, so what one shares with the other is
    unchanged; the built images hold one extra layer, with the marker file at /.
    """
    tag = f"cache-bisect/scratch:{cell_id}"
    _import(client, marker_layer(cell_id), tag, cell_labels(cell_id, current_run()))
    return tag


def _import(
    client: docker.DockerClient,
    layer: bytes,
    tag: str,
    labels: dict[str, str],
    changes: Sequence[str] = (),
) -> None:
    """Import one layer tar as the image ``tag`` with ``labels`` and further ``changes``
    (``docker import --change``)."""
    repository, _, version = tag.partition(":")
    try:
        client.api.import_image_from_data(
            layer,
            repository=repository,
            tag=version,
            changes=[*(f'LABEL {key}="{value}"' for key, value in labels.items()), *changes],
        )
    except docker.errors.DockerException as error:
        raise BaseImageError(f"cannot import {tag}: {str(error).splitlines()[0][:200]}") from None


def _relabelled_copy(
    client: docker.DockerClient, parent: str, tag: str, labels: dict[str, str], cell_id: str
) -> None:
    """Load a copy of ``parent`` (same layers and config) with our labels and the cell's
    marker layer added, as ``tag``.

    An image with ONBUILD triggers cannot be derived by a build (the build runs the triggers
    and clears them, so the measured builds would not), nor by a commit (the engine gives the
    commit the creating container's command); a saved copy keeps everything else as it was.
    """
    with tempfile.TemporaryDirectory(prefix=workdir_prefix()) as folder:
        saved, loaded = Path(folder) / "saved.tar", Path(folder) / "loaded.tar"
        with saved.open("wb") as out:
            for chunk in client.images.get(parent).save(named=False):
                out.write(chunk)
        with tarfile.open(saved) as source, tarfile.open(loaded, "w") as target:
            manifest = json.load(_member(source, "manifest.json"))
            config = json.load(_member(source, manifest[0]["Config"]))
            own = config.setdefault("config", {})
            own["Labels"] = {**(own.get("Labels") or {}), **labels}
            layer = marker_layer(cell_id)
            config["rootfs"]["diff_ids"].append(f"sha256:{hashlib.sha256(layer).hexdigest()}")
            config.setdefault("history", []).append({"created_by": f"cache-bisect: {CELL_MARKER}"})
            body = json.dumps(config).encode()
            name = f"{hashlib.sha256(body).hexdigest()}.json"
            layer_name = f"{CELL_MARKER}/layer.tar"
            skip = {"manifest.json", "repositories", manifest[0]["Config"]}
            manifest[0].update(
                Config=name, RepoTags=[tag], Layers=[*manifest[0]["Layers"], layer_name]
            )
            for member in source.getmembers():
                if member.name not in skip:
                    target.addfile(member, source.extractfile(member) if member.isfile() else None)
            listing = json.dumps(manifest).encode()
            for entry, data in ((name, body), (layer_name, layer), ("manifest.json", listing)):
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
