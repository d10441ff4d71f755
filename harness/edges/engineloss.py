"""Telling an engine that went away from a build that failed or an answer that was wrong.

When the engine goes away mid-cell, the builds fail, the judge's calls fail and then the
cleanup fails; the user must see one line saying the engine is gone, not the last of those
errors as a traceback. An engine error inside ``watching`` becomes EngineLost when the engine
no longer answers a ping, and is raised as it was when it still does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import docker
import docker.errors
import requests

from harness.core.errors import RemoteError
from harness.core.text import printable

ENGINE_ERRORS = (
    docker.errors.DockerException,
    requests.exceptions.RequestException,
    ConnectionError,
)


class EngineLost(RemoteError):
    """The engine stopped answering during a cell; nothing of that cell is kept."""


def answers(client: docker.DockerClient) -> bool:
    try:
        return bool(client.ping())
    except ENGINE_ERRORS:
        return False


@contextmanager
def watching(client: docker.DockerClient, host: str, what: str) -> Iterator[None]:
    """Run the block; an engine error from it, with the engine gone, is EngineLost."""
    try:
        yield
    except ENGINE_ERRORS as error:
        if answers(client):
            raise
        reason = printable(_innermost(error))[:160]
        raise EngineLost(
            f"lost the engine {host} during {what}: it no longer answers ({reason}); "
            "the cell is not stored, and the next run removes what it left"
        ) from None


def _innermost(error: BaseException) -> str:
    """The words of the error at the bottom of a wrapped one ("Connection refused")."""
    for argument in error.args:
        if isinstance(argument, BaseException):
            return _innermost(argument)
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error).splitlines()[0] if str(error) else type(error).__name__
