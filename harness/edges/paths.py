"""Where the harness keeps what it creates: one cache directory, never the user's files."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

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
        (str(cache_dir()), "$CACHE_BISECT_HOME"),
        (sys.prefix, "$PYTHON_PREFIX"),
        (sys.base_prefix, "$PYTHON_PREFIX"),
        (str(Path.home()), "~"),
    ]
    for place, name in sorted(places, key=lambda pair: len(pair[0]), reverse=True):
        if len(place) > 1:
            text = text.replace(place, name)
    return _NOX_ENV.sub("$NOX_ENV", text)
