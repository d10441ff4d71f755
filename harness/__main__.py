"""``python -m harness COMMAND ...``: the entry point the nox sessions call.

Every error a user can see is a ``HarnessError``: it is caught here, once, and printed as one
line with the exit code its kind carries.
"""

from __future__ import annotations

import sys
from importlib import import_module

from harness.core.errors import HarnessError, Interrupted
from harness.edges.process import stop_on_signals
from harness.present.console import fail

COMMANDS = {
    "repro": "harness.cli.repro",
    "matrix": "harness.cli.matrix",
    "bisect": "harness.cli.bisect",
    "publish": "harness.cli.publish",
}


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in COMMANDS:
        print(f"usage: python -m harness {{{','.join(COMMANDS)}}} [--help]", file=sys.stderr)
        return 2
    try:
        command = import_module(COMMANDS[args[0]])
        return int(command.main(args[1:]))
    except HarnessError as error:
        return fail(str(error), error.exit_code)
    except KeyboardInterrupt:  # before the work began: each command says more once it has
        from harness.present.words import INTERRUPTED_EARLY  # a second signal is ignored now

        return fail(INTERRUPTED_EARLY, Interrupted.exit_code)


if __name__ == "__main__":
    stop_on_signals()  # the program only: a test calling main() keeps its own handlers
    sys.exit(main())
