"""The one root of every error a user can see, and the exit code each kind ends a run with.

``python -m harness`` catches ``HarnessError`` once and prints its message as one line, so no
module re-wraps another's error to reach the user. The kind is in the class: bad input exits 2
(argparse's convention: fix what you typed), a failure of the engine, the index or the network
exits 1 (the input was fine; try again or elsewhere).
"""

from __future__ import annotations

from typing import ClassVar


class HarnessError(Exception):
    """Something stopped the run; the message is one line, meant for the user."""

    exit_code: ClassVar[int] = 1


class UserError(HarnessError):
    """Something the user typed or wrote cannot be used."""

    exit_code: ClassVar[int] = 2


class RemoteError(HarnessError):
    """The engine, the package index or another service failed or answered nonsense."""

    exit_code: ClassVar[int] = 1


class Interrupted(HarnessError):
    """Ctrl-C: the run stopped its builds and kept what was finished (the shell's 128 + SIGINT)."""

    exit_code: ClassVar[int] = 130
