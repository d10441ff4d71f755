"""Which images the legacy builder treats as one cache entry.

The legacy builder looks a step up among the children of the previous step's image and takes
the newest whose container config compares equal, field by field, on the fields moby's
``image/cache`` ``compare`` reads (the hostname and the container's image are not among them).
Two images of the same parent with equal configs are therefore interchangeable for the cache:
a probe that gets either one has hit the same cache key, even when the engine returns the
newer of two such images. Pure.
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
