"""Where the harness keeps what it creates: one cache directory, never the user's files."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
from dataclasses import replace
from pathlib import Path

from harness.core.model import CellResult, CliInfo, EngineInfo

CACHE = "$CACHE_BISECT_HOME"  # the harness's cache, as results name it
# A docker CLI named by a path outside the harness's cache: its version says which it is.
ELSEWHERE_CLI = "<cli>"
# A unix socket outside the harness's cache an engine was named by (and a digest of its path).
ELSEWHERE_SOCKET = "<socket-{digest}>"

# A nox session's environment, wherever its checkout lies (an install log names the uv it ran).
_NOX_ENV = re.compile(r"(?<![^\s'\"=(])/[^\s'\"]*?/\.nox/[^/\s'\"]+")


def cache_dir() -> Path:
    """The harness's cache: ``$CACHE_BISECT_HOME``, else ``$XDG_CACHE_HOME/cache-bisect``."""
    explicit = os.environ.get("CACHE_BISECT_HOME")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cache-bisect"


def redact(text: str) -> str:
    """``text`` with this machine's folders replaced by names that mean something anywhere.

    Result files are committed and published: they say "the harness's cache" or "the home
    folder", never where those happen to be on the machine that ran the matrix.
    """
    places = [
        (str(cache_dir()), CACHE),
        (sys.prefix, "$PYTHON_PREFIX"),
        (sys.base_prefix, "$PYTHON_PREFIX"),
        (str(Path.home()), "~"),
    ]
    for place, name in sorted(places, key=lambda pair: len(pair[0]), reverse=True):
        if len(place) > 1:
            text = text.replace(place, name)
    return _NOX_ENV.sub("$NOX_ENV", text)


def cli_named(path: str) -> str:
    """How results name a docker CLI: one of the harness's own as ``$CACHE_BISECT_HOME/...``,
    one PATH finds by its file name by that name (``docker``: what the user types), any
    other ``<cli>`` (its version, recorded beside it, says which it was). A name stays."""
    if "/" not in path:
        return path
    shown = redact(path)
    if shown.startswith(CACHE + "/"):
        return shown
    found = shutil.which(Path(path).name)
    if found and os.path.realpath(found) == os.path.realpath(path):
        return Path(path).name
    return ELSEWHERE_CLI


def engine_named(host: str | None) -> str | None:
    """An engine's address as results name it: a unix socket outside the harness's cache is
    ``unix://<socket-DIGEST>``, a digest of its path, so the cells of two engines stay apart
    (other schemes name a host, not a place on this machine). A name stays."""
    if not host or not host.startswith("unix:///"):
        return host
    shown = redact(host.removeprefix("unix://"))
    if shown.startswith(CACHE + "/"):
        return "unix://" + shown
    digest = hashlib.sha256(host.encode()).hexdigest()[:8]
    return "unix://" + ELSEWHERE_SOCKET.format(digest=digest)


def redact_cell(cell: CellResult) -> CellResult:
    """``cell`` as it is stored and published: its reference CLI and engine named by no
    place on this machine. (Text fields go through ``redact`` where a result is written.)"""
    config = redact(cell.cli.config) if cell.cli.config else None
    cli: CliInfo = replace(cell.cli, path=cli_named(cell.cli.path), config=config)
    engine: EngineInfo = replace(cell.engine, name=engine_named(cell.engine.name))
    if (cli, engine) == (cell.cli, cell.engine):
        return cell
    return replace(cell, cli=cli, engine=engine)
