"""The bisection report, in the spirit of cargo-bisect-rustc's regression report: the searched
range, every probe, the answer, the compare link, how to reproduce, and the environment folded
away.
"""

from __future__ import annotations

from tabulate import tabulate

from harness.core.bisection import Kind, Status
from harness.core.buildkind import Builders
from harness.core.remedy import Remedy
from harness.core.report import BisectReport
from harness.present.sections import Details, Section, Table, Text, render
from harness.present.tables import environment_lines
from harness.present.words import (
    builder_label,
    cli_build_label,
    compose_label,
    cross_text,
    culprit_sentence,
    diverged_phrase,
    end_text,
    observation_text,
    remedy_line,
    what_to_do,
)

HEADERS = ["#", "version", "docker SDK", "verdict", "runs", "source"]


def answer(report: BisectReport) -> str:
    package, status = report.package, report.status
    low, high = report.resolved
    if status is Status.FOUND:
        old, new = end_text(report.old_verdict), end_text(report.new_verdict)
        return (
            f"{package} {report.last_old} behaves like {low} ({old}); "
            f"{report.first_new} is the first release that does not ({new})."
        )
    if status is Status.NO_CHANGE:
        return (
            f"Nothing changes between {low} and {high}: both {end_text(report.old_verdict)}. "
            "Widen the range to find where the behaviour changed."
        )
    if status is Status.AMBIGUOUS:
        return (
            f"The change lies in {', '.join(report.candidates)}: releases in between "
            f"could not be tested, so the first one cannot be named "
            f"(last like {low}: {report.last_old})."
        )
    if status is Status.FLAKY:
        return (
            f"{package} {report.flaky} gave different verdicts on repeated runs; the "
            f"search stops there (change lies in {', '.join(report.candidates)})."
        )
    return f"The search could not start: {report.reason or 'an end could not be tested'}."


def culprit_line(report: BisectReport) -> str | None:
    if report.culprit is None:
        return None
    return culprit_sentence(report.culprit.package, report.culprit.reason)


def where_missed(report: BisectReport, code: bool = False) -> list[str]:
    """Where each release the answer names missed the cache (the last like the low end and
    the first that is not; with no such pair, the two ends): the step, its stage and the
    user's own instruction, which the verdict's "diverged at step N" alone does not say."""
    named = (report.last_old, report.first_new) if report.first_new else report.resolved
    found = []
    for probe in report.probes:
        where = diverged_phrase(probe.cell, code) if probe.cell and probe.behaviour else None
        if probe.version in named and where is not None:
            found.append(f"{report.package} {probe.version}: {where}")
    return found


def reproduce_commands(report: BisectReport) -> list[tuple[str, str]]:
    """How to see both behaviours: the first new one, and the last old one."""
    commands = [("new behaviour", report.reproduce)]
    if report.reproduce_old:
        commands.append(("old behaviour", report.reproduce_old))
    return commands


def probe_rows(report: BisectReport) -> list[list[str]]:
    return [
        [
            str(n),
            compose_label(p.cell) if p.cell else p.version,
            str(p.sdk or ("none (Go binary)" if p.cell and p.cell.compose_package else "?")),
            observation_text(p.observation)
            + (f" ({p.cell.verdict})" if p.observation.kind is Kind.SKIP and p.cell else ""),
            p.runs,
            "stored" if p.stored else "built",
        ]
        for n, p in enumerate(report.probes, start=1)
    ]


def terminal_report(report: BisectReport) -> str:
    low, high = report.resolved
    lines = [
        f"searched {report.package} {low} … {high} ({report.count} releases), "
        f"{len(report.probes)} probes, {report.builds} new builds",
        tabulate(probe_rows(report), headers=HEADERS, tablefmt="simple", disable_numparse=True),
        "",
        f"{report.status}: {answer(report)}",
        *(f"  {line}" for line in where_missed(report)),
        *ends_advice(report),
    ]
    if line := culprit_line(report):
        lines.append(line)
    if report.compare_url:
        lines.append(f"changes: {report.compare_url}")
    lines.append("reproduce with:")
    lines += [f"  {label}: {command}" for label, command in reproduce_commands(report)]
    return "\n".join(lines)


def _remedied_ends(report: BisectReport) -> list[tuple[str, str, tuple[Remedy, ...]]]:
    """The bisect's ends whose remedies were tried: version, "What to do: …", the remedies."""
    found = []
    for probe in report.probes:
        cell = probe.cell
        advice = what_to_do(cell.remedies) if cell else None
        if cell is not None and cell.remedies and advice is not None:
            found.append((probe.version, advice, cell.remedies))
    return found


def ends_advice(report: BisectReport) -> list[str]:
    """One "What to do" line per remedied end of the range."""
    return [f"{advice} (compose {version})" for version, advice, _ in _remedied_ends(report)]


def _builder(builder: Builders) -> str:
    return "" if builder.legacy else f", {builder_label(builder)}"


def markdown_sections(report: BisectReport) -> list[Section]:
    """The bisect report as sections: the answer, the culprit and its crosses, the probes'
    table, how to reproduce, the environment (collapsed)."""
    low, high = report.resolved
    crosses = tuple(
        f"- compose {cross.compose} with docker SDK {cross.sdk}: {cross_text(cross)}"
        for cross in (report.culprit.crosses if report.culprit else ())
    )
    status = f"**{report.status}**: {answer(report)}"
    culprit = culprit_line(report)
    sections: list[Section] = [
        Text(
            (
                f"## Bisect: {report.package} {low} … {high} (scenario {report.scenario}, "
                f"{cli_build_label(report.cli_build)}{_builder(report.builder)})",
            )
        ),
        Text((status,)),
        *(
            [Text(tuple(f"- {line}" for line in where))]
            if (where := where_missed(report, True))
            else []
        ),
        *(
            section
            for version, advice, remedies in _remedied_ends(report)
            for section in (
                Text((f"**{advice}** (compose {version})",)),
                Text(tuple(f"- {remedy_line(remedy)}" for remedy in remedies)),
            )
        ),
        *([Text((culprit, *crosses))] if culprit else []),  # no culprit, no crosses
    ]
    if report.compare_url:
        sections.append(Text((f"Changes: {report.compare_url}",)))
    sections += [
        Table(tuple(HEADERS), tuple(tuple(row) for row in probe_rows(report))),
        Text(("Reproduce with:",)),
        Text(tuple(f"- {label}: `{command}`" for label, command in reproduce_commands(report))),
        Details(
            "Environment",
            (
                *environment_lines([p.cell for p in report.probes if p.cell]),
                f"- each probe run {report.repeat} time(s)",
            ),
        ),
    ]
    return sections


def markdown_report(report: BisectReport) -> str:
    """The report of ``markdown_sections`` as one markdown text."""
    return render(markdown_sections(report))
