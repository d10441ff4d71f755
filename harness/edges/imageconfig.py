"""An image's config as the engine stores it, with nanosecond history times.

``docker history`` and the history API round ``created`` to seconds; the config inside
``docker save`` (``GET /images/{name}/get``) keeps them, and BuildKit verdicts need them.
"""

from __future__ import annotations

import io
import json
import tarfile
from typing import IO, Any

import docker


def image_config(client: docker.DockerClient, name: str) -> dict[str, Any]:
    """The config JSON of one image (its manifest's ``Config`` file in the saved tar)."""
    raw = b"".join(client.api.get_image(name))
    with tarfile.open(fileobj=io.BytesIO(raw)) as archive:
        manifest = json.load(_member(archive, "manifest.json"))
        config: dict[str, Any] = json.load(_member(archive, manifest[0]["Config"]))
    return config


def _member(archive: tarfile.TarFile, path: str) -> IO[bytes]:
    found = archive.extractfile(path)
    if found is None:
        raise KeyError(f"{path} is not a file in the saved image")
    return found
