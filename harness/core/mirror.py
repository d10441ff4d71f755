"""Remedies for a miss whose proven cause is a build request parameter (explain's
``query:NAME``): the ``docker build`` flag that sends what docker-compose sent, and the compose
build key that makes compose send it. Pure: names and values in, flags and keys out; whether
either remedy helps is what the engine shows when a cell tries it.

The values are the ones captured from docker-compose's request, as the engine's build API
reads them (moby ``api/server/router/build``): ``cachefrom``, ``labels`` and ``buildargs`` are
JSON, ``extrahosts`` a repeated parameter (kept comma-joined in a difference), the rest a
single value.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.core.errors import RemoteError
from harness.core.hybrid import REQUEST
from harness.core.tardiff import Difference


@dataclass(frozen=True)
class Mirror:
    """How one build API parameter is asked for: ``flag`` of ``docker build`` (``shape``:
    ``json-list`` a flag per item of a JSON list, ``list`` a flag per repeated value,
    ``json-map`` a flag per ``KEY=value`` of a JSON object, ``value`` one flag with the value,
    ``switch`` the flag alone when true) and the compose build key that sets it (None: a
    command-line option of compose, not a key). Removing ``args`` or ``target`` would build
    something else, so those keys are never a remedy to remove."""

    flag: str
    shape: str
    key: str | None

    @property
    def removable(self) -> str | None:
        """The compose build key a remedy may remove (None: none)."""
        return None if self.key in ("args", "target") else self.key


MIRRORS: Mapping[str, Mirror] = {
    "cachefrom": Mirror("--cache-from", "json-list", "cache_from"),
    "labels": Mirror("--label", "json-map", "labels"),
    "buildargs": Mirror("--build-arg", "json-map", "args"),
    "extrahosts": Mirror("--add-host", "list", "extra_hosts"),
    "networkmode": Mirror("--network", "value", "network"),
    "shmsize": Mirror("--shm-size", "value", "shm_size"),
    "platform": Mirror("--platform", "value", "platform"),
    "target": Mirror("--target", "value", "target"),
    "isolation": Mirror("--isolation", "value", "isolation"),
    "pull": Mirror("--pull", "switch", None),
    "nocache": Mirror("--no-cache", "switch", None),
}


class MirrorError(RemoteError):
    """A captured value does not have the shape its parameter has."""


@dataclass(frozen=True)
class RequestCause:
    """A build request parameter proven to cause the miss, with each client's value (None:
    that client did not send it)."""

    name: str  # the query parameter ("cachefrom"), or "api:version"
    compose: str | None
    cli: str | None

    @classmethod
    def of(cls, difference: Difference) -> RequestCause | None:
        """From a difference of the proven cause; None for a context difference."""
        if difference.path != REQUEST:
            return None
        compose, cli = difference.compose, difference.cli
        return cls(
            difference.field.removeprefix("query:"),
            None if compose is None else str(compose),
            None if cli is None else str(cli),
        )


def request_causes(minimal: tuple[Difference, ...]) -> list[RequestCause]:
    """The request parameters among a proven cause's minimal set, in its order."""
    return [cause for entry in minimal if (cause := RequestCause.of(entry)) is not None]


def cli_flags(name: str, value: str) -> tuple[str, ...]:
    """The ``docker build`` options that send ``value`` for the parameter ``name``."""
    mirror = MIRRORS.get(name)
    if mirror is None:
        raise MirrorError(f"no docker build flag sends {name}")
    if mirror.shape == "switch":
        if value.lower() not in ("1", "true"):
            raise MirrorError(f"{name}={value} is off, as docker build leaves it: no flag to add")
        return (mirror.flag,)
    if mirror.shape == "value":
        return (mirror.flag, value)
    if mirror.shape == "list":  # repeated, kept comma-joined in a difference
        items = [item for item in value.split(",") if item]
    else:
        items = _items(name, value) if mirror.shape == "json-list" else _pairs(name, value)
    return tuple(option for item in items for option in (mirror.flag, item))


def _items(name: str, value: str) -> list[str]:
    """A JSON list of names."""
    parsed = _json(name, value)
    if not isinstance(parsed, list) or not all(isinstance(item, str) for item in parsed):
        raise MirrorError(f"{name} is not a list of names: {value[:80]}")
    return parsed


def _pairs(name: str, value: str) -> list[str]:
    """A mapping parameter (JSON): ``KEY=value`` each, a null value as ``KEY`` alone (the
    CLI then takes it from its environment, as compose's unset arg does)."""
    parsed = _json(name, value)
    if not isinstance(parsed, dict):
        raise MirrorError(f"{name} is not a mapping: {value[:80]}")
    return [str(key) if item is None else f"{key}={item}" for key, item in parsed.items()]


def _json(name: str, value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        raise MirrorError(f"{name} is not JSON: {value[:80]}") from None


def shell_words(flags: tuple[str, ...]) -> str:
    """The options as a user types them in a POSIX shell."""
    return shlex.join(flags)
