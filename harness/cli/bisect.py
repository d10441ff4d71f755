"""``nox -s bisect -- LO HI``: the first release where the cache behaviour changes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness.app.bisect import COMPOSE, SDK, BisectRequest, run_bisect
from harness.app.invocation import Invocation
from harness.app.remedies import remedy_bisect_ends
from harness.app.runner import scenario_for
from harness.app.session import load_releases
from harness.app.store import ResultStore, StoredCells
from harness.cli.options import (
    OneLineParser,
    add_condition,
    add_config,
    add_remedies,
    add_results,
    project_of,
    release,
    release_or_auto,
    results_of,
    scenario_of,
    split_tool,
)
from harness.cli.outputs import check_outputs, write_outputs
from harness.core.bisection import Status, probe_budget
from harness.core.config import load_config
from harness.core.errors import Interrupted, UserError
from harness.core.flavour import is_v2
from harness.core.releases import ReleaseIndexError, between
from harness.edges.paths import redact
from harness.present.bisect_report import markdown_report, terminal_report
from harness.present.console import say


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="nox -s bisect --",
        description="Find the first release between LO and HI whose cache behaviour differs from "
        "LO's, with the fewest builds (stored cells are reused, new ones stored).",
        epilog="A bound that names a series (1.20) means its earliest release as LO and its "
        "latest as HI.",
    )
    p.add_argument(
        "low", metavar="LO", type=release, help="low bound: a release (1.20.0) or a series (1.20)"
    )
    p.add_argument("high", metavar="HI", type=release, help="high bound: a release or a series")
    p.add_argument(
        "--package",
        choices=(COMPOSE, SDK),
        default=COMPOSE,
        help="what moves: docker-compose releases (default), or docker SDK releases "
        "with compose held at --compose",
    )
    p.add_argument(
        "--compose",
        metavar="VERSION",
        type=release,
        help="the docker-compose release to hold when --package docker",
    )
    p.add_argument(
        "--sdk",
        default="auto",
        metavar="VERSION",
        type=release_or_auto,
        help="the docker SDK to hold when bisecting compose (default: auto)",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="run each probe N times; disagreeing runs make it flaky (default 1)",
    )
    add_condition(p)
    add_remedies(p)
    add_config(p, "[compat] rules and [run] options")
    p.add_argument("--pre", action="store_true", help="include pre-releases")
    p.add_argument("--yanked", action="store_true", help="include yanked releases")
    add_results(p, "store in RESULTS/cells, report in RESULTS/bisect.md and .json")
    p.add_argument("--json", type=Path, metavar="PATH", help="also write the report JSON here")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.results = results_of(args)
    if args.repeat < 1:
        raise UserError("--repeat must be at least 1")
    if args.package == SDK and not args.compose:
        raise UserError("--package docker needs --compose VERSION (the compose release to hold)")
    if args.package == SDK and is_v2(args.compose):
        raise UserError(f"compose {args.compose} is the Go binary: it has no docker SDK to bisect")
    if args.package == COMPOSE and is_v2(args.low) != is_v2(args.high):
        raise UserError(
            f"{args.low} … {args.high} spans docker-compose 1.x (Python) and compose 2.x (the "
            "Go binary): two different programs, not one history; bisect each side of 2.0 alone"
        )
    try:
        project, service = project_of(args)
        config = load_config(args.config)
        engine_version, host = split_tool(args.engine)
        cli_version, cli_path = split_tool(args.cli)
        request = BisectRequest(
            package=args.package,
            low=args.low,
            high=args.high,
            repeat=args.repeat,
            cell=config.run.spec(
                compose=args.compose or "",
                sdk=args.sdk,
                scenario=scenario_of(args),
                cli_build=args.cli_build,
                builder=args.builder,
                engine=engine_version,
                cli=cli_version,
                project=project,
                service=service,
            ),
        )
        scenario_for(request.spec(request.high))
        check_outputs(
            [args.results / "bisect.json", args.results / "bisect.md", args.json],
            [args.results / "cells"],
        )
        releases = load_releases()
        if args.package == SDK:
            releases.exact(COMPOSE, args.compose)
        elif args.sdk != "auto":  # checked now, not when the first probe needs it
            releases.exact(SDK, args.sdk)
        try:
            versions = between(
                releases.of(args.package), args.low, args.high, pre=args.pre, yanked=args.yanked
            )
        except ReleaseIndexError as error:
            raise UserError(f"{args.package}: {error}") from None
        if len(versions) < 2:
            raise UserError(
                f"{args.package} {args.low} … {args.high} holds only {versions[0].text}: "
                "nothing to bisect (name two different releases or series)"
            )
        say(
            f"{args.package} {args.low} … {args.high} → {versions[0].text} … "
            f"{versions[-1].text}: {len(versions)} releases "
            f"({', '.join(v.text for v in versions)}); at most "
            f"{probe_budget(len(versions))} probes"
        )
        run = Invocation.of(
            config,
            releases,
            args.results,
            hosts=[host] if host else [],
            cli_path=cli_path,
            project=(project, service),
            remedies=args.remedies,
        )
        with run.runner(engine_version) as runner:
            cells = StoredCells(runner, ResultStore(args.results / "cells", warn=say))
            report = run_bisect(request, versions, cells, log=say)
            if run.remedies:
                report = remedy_bisect_ends(report, request.spec, runner, cells.store, log=say)
    except KeyboardInterrupt:
        raise Interrupted(
            "interrupted: every finished probe is stored; run again to resume"
        ) from None
    say("")
    say(terminal_report(report))
    text = redact(json.dumps(report.to_json(), indent=1) + "\n")
    files = [(args.results / "bisect.json", text)]
    files += [(args.json, text)] if args.json else []
    files += [(args.results / "bisect.md", redact(markdown_report(report)))]
    write_outputs(text, files, after="every probe is stored")
    say(f"\nwrote {args.results / 'bisect.md'} and {args.results / 'bisect.json'}")
    return 0 if report.status is not Status.ERROR else 1
