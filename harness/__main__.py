"""``python -m harness COMMAND ...``: the entry point the nox sessions call."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    commands = {
        "repro": "harness.cli.repro",
        "matrix": "harness.cli.matrix",
        "bisect": "harness.cli.bisect",
        "publish": "harness.cli.publish",
    }
    if not args or args[0] not in commands:
        print(f"usage: python -m harness {{{','.join(commands)}}} [--help]", file=sys.stderr)
        return 2
    module = __import__(commands[args[0]], fromlist=["main"])
    return int(module.main(args[1:]))


if __name__ == "__main__":
    sys.exit(main())
