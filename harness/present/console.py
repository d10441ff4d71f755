"""How the harness talks to people: progress on stdout, one-line errors on stderr."""

from __future__ import annotations

import sys
import threading

_LINES = threading.Lock()  # parallel cells report from several threads: whole lines only


def say(line: str) -> None:
    with _LINES:
        print(line, flush=True)


def fail(message: str, code: int = 2) -> int:
    """Print one line (no traceback) and return the exit code to use."""
    with _LINES:
        print(f"error: {message}", file=sys.stderr, flush=True)
    return code
