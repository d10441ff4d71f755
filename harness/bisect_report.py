"""The bisection report (pure), in the spirit of cargo-bisect-rustc's regression report:
the searched range, every probe, the answer, the compare link, how to reproduce, and the
environment folded away.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tabulate import tabulate

from harness.bisect_driver import describe
from harness.render import environment_lines

Report = Mapping[str, Any]


def answer(report: Report) -> str:
    package = report["package"]
    status = report["status"]
    low, high = report["range"]["resolved"]
    if status == "found":
        return (
            f"{package} {report['last_old']} behaves like {low} ({report['old_verdict']}); "
            f"{report['first_new']} is the first release that does not "
            f"({report['new_verdict']})."
        )
    if status == "no-change":
        return (
            f"Nothing changes between {low} and {high}: both {report['old_verdict']}. "
            "Widen the range to find where the behaviour changed."
        )
    if status == "ambiguous":
        return (
            f"The change lies in {', '.join(report['candidates'])}: releases in between "
            f"could not be tested, so the first one cannot be named "
            f"(last like {low}: {report['last_old']})."
        )
    if status == "flaky":
        return (
            f"{package} {report['flaky']} gave different verdicts on repeated runs; the "
            f"search stops there (change lies in {', '.join(report['candidates'])})."
        )
    return f"The search could not start: {report.get('reason') or 'an end could not be tested'}."


def culprit_line(report: Report) -> str | None:
    culprit = report.get("culprit")
    if not culprit:
        return None
    who = culprit.get("package") or "unclear"
    return f"Who changed it: {who} — {culprit['reason']}."


def probe_rows(report: Report) -> list[list[str]]:
    return [
        [
            str(n),
            p["version"],
            str(p["sdk"] or "?"),
            describe(p["verdict"]),
            p["runs"],
            "stored" if p["stored"] else "built",
        ]
        for n, p in enumerate(report["probes"], start=1)
    ]


HEADERS = ["#", "version", "docker SDK", "verdict", "runs", "source"]


def terminal_report(report: Report) -> str:
    low, high = report["range"]["resolved"]
    lines = [
        f"searched {report['package']} {low} … {high} ({report['range']['count']} releases), "
        f"{len(report['probes'])} probes, {report['builds']} new builds",
        tabulate(probe_rows(report), headers=HEADERS, tablefmt="simple", disable_numparse=True),
        "",
        f"{report['status']}: {answer(report)}",
    ]
    if line := culprit_line(report):
        lines.append(line)
    if report.get("compare_url"):
        lines.append(f"changes: {report['compare_url']}")
    lines.append(f"reproduce with: {report['reproduce']}")
    return "\n".join(lines)


def markdown_report(report: Report) -> str:
    low, high = report["range"]["resolved"]
    condition = (
        "COMPOSE_DOCKER_CLI_BUILD unset"
        if report["cli_build"] == "default"
        else f"COMPOSE_DOCKER_CLI_BUILD={report['cli_build']}"
    )
    parts = [
        f"## Bisect: {report['package']} {low} … {high} (scenario {report['scenario']}, "
        f"{condition})",
        "",
        f"**{report['status']}**: {answer(report)}",
    ]
    if line := culprit_line(report):
        parts += ["", line]
    for cross in (report.get("culprit") or {}).get("crosses", []):
        outcome = (
            describe(cross["verdict"])
            if cross["verdict"] != "skip"
            else f"could not be tested ({cross['detail']})"
        )
        parts.append(f"- compose {cross['compose']} with docker SDK {cross['sdk']}: {outcome}")
    if report.get("compare_url"):
        parts += ["", f"Changes: {report['compare_url']}"]
    parts += [
        "",
        tabulate(probe_rows(report), headers=HEADERS, tablefmt="github", disable_numparse=True),
        "",
        f"Reproduce with: `{report['reproduce']}`",
        "",
        "<details><summary>Environment</summary>",
        "",
        *environment_lines([p["cell"] for p in report["probes"] if p.get("cell")]),
        f"- each probe run {report['repeat']} time(s)",
        "",
        "</details>",
        "",
    ]
    return "\n".join(parts)
