"""``nox -s repro -- --compose X``: one reproduction cell, with a summary and optional JSON."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from harness.cell import CellSpec
from harness.cli_options import add_condition, add_config, project_of, scenario_of
from harness.config import ORDERS, ConfigError, load_config
from harness.console import fail, say
from harness.runner import BadInput
from harness.session import open_runner
from harness.summary import cell_summary

# A verdict about the builders is an answer (0); a cell that could not be judged is not (1).
EXIT_BY_VERDICT = {"shared": 0, "diverged": 0, "uninstallable": 0, "error": 1, "timeout": 1}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="nox -s repro --",
        description="Build the scenario with one docker-compose release and with `docker build`, "
        "and say from the engine's image chains whether the two share the layer cache.",
    )
    p.add_argument(
        "--compose",
        required=True,
        metavar="VERSION",
        help="docker-compose release to test, e.g. 1.20.0",
    )
    p.add_argument(
        "--sdk",
        default="auto",
        metavar="VERSION",
        help="docker SDK release; 'auto' (default) = what the compose release "
        "resolved to on its release date",
    )
    p.add_argument(
        "--order",
        choices=ORDERS,
        default=None,
        help="which builder runs first (default from matrix.toml, else compose-first "
        "as in the seed demo)",
    )
    p.add_argument("--uid", type=int, default=None, help="owner uid of the build context files")
    p.add_argument("--gid", type=int, default=None, help="owner gid of the build context files")
    p.add_argument("--timeout", type=float, default=None, help="seconds allowed per build")
    p.add_argument(
        "--explain",
        action="store_true",
        help="capture both build contexts through a recording proxy and, when the "
        "cache missed, list the tar header fields that differ",
    )
    add_condition(p)
    add_config(p, "where the [compat] overrides and [run] defaults come from")
    p.add_argument("--json", type=Path, metavar="PATH", help="write the full result here")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        project, service = project_of(args)
        config = load_config(args.config)
        spec = CellSpec.from_run(
            config.run,
            compose=args.compose,
            sdk=args.sdk,
            cli_build=args.cli_build,
            scenario=scenario_of(args),
            project=project,
            service=service,
        )
        given = {
            "order": args.order,
            "uid": args.uid,
            "gid": args.gid,
            "timeout": args.timeout,
            "explain": args.explain or None,
        }
        spec = replace(spec, **{key: value for key, value in given.items() if value is not None})
        with open_runner(config) as runner:
            runner.scenario(spec)
            result = runner.run(spec)
    except (BadInput, ConfigError) as error:
        return fail(str(error))
    for line in cell_summary(result):
        say(line)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        say(f"result written to {args.json}")
    return EXIT_BY_VERDICT.get(str(result["verdict"]), 1)


if __name__ == "__main__":
    sys.exit(main())
