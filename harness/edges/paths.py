"""Where the harness keeps what it creates: one cache directory, never the user's files."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The harness's cache: ``$CACHE_BISECT_HOME``, else ``$XDG_CACHE_HOME/cache-bisect``."""
    explicit = os.environ.get("CACHE_BISECT_HOME")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cache-bisect"
