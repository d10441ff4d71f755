"""How the harness talks to people: progress on stdout, one-line errors on stderr."""

from __future__ import annotations

import sys


def say(line: str) -> None:
    print(line, flush=True)


def fail(message: str, code: int = 2) -> int:
    """Print one line (no traceback) and return the exit code to use."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    return code
