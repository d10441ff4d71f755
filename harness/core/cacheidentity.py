"""Which images the legacy builder treats as one cache entry.

The legacy builder looks a step up among the children of the previous step's image and takes
the newest whose container config compares equal, field by field, on the fields moby's
``image/cache`` ``compare`` reads (the hostname and the container's image are not among them).
Two images of the same parent with equal configs are therefore interchangeable for the cache:
a probe that gets either one has hit the same cache key, even when the engine returns the
newer of two such images. Image inspect stopped reporting that config (``ContainerConfig``) in
API 1.45 (Engine 26), though the legacy builder still compares it: it is read through an API
version that reports it (:func:`config_api_version`). Pure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# The fields ``compare`` reads; a missing field and an empty one compare equal (it compares
# lengths, then elements).
_ORDERED = ("Cmd", "Env", "Entrypoint")
_KEYED = ("Labels", "ExposedPorts", "Volumes")
_SCALAR: Mapping[str, object] = {
    "AttachStdout": False,
    "AttachStderr": False,
    "User": "",
    "OpenStdin": False,
    "Tty": False,
}
# The newest API version whose image inspect still reports ``ContainerConfig``.
CONFIG_API = (1, 44)


def config_api_version(engine_api: str) -> str:
    """The API version to read a step's compared config with: the engine's own, at most
    :data:`CONFIG_API` (an engine refuses a version newer than its own)."""
    major, _, minor = engine_api.partition(".")
    own = (int(major), int(minor or 0))
    chosen = min(own, CONFIG_API)
    return f"{chosen[0]}.{chosen[1]}"


def cache_identity(parent: str, container_config: Mapping[str, Any] | None) -> str:
    """The step's cache key as the engine compares it: the parent image and the compared
    fields of the config the step was committed with, as one canonical string."""
    config = container_config or {}
    key: dict[str, Any] = {"parent": parent or ""}
    for name, default in _SCALAR.items():
        key[name] = config.get(name) or default
    for name in _ORDERED:
        key[name] = list(config.get(name) or [])
    for name in _KEYED:
        values = config.get(name) or {}
        key[name] = dict(values) if name == "Labels" else sorted(values)
    return json.dumps(key, sort_keys=True)
