"""Short human summaries of cell results (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def verdict_phrase(cell: Mapping[str, Any]) -> str:
    verdict = cell.get("verdict")
    if verdict == "diverged" and cell.get("diverged_at"):
        at = cell["diverged_at"]
        return f"diverged at step {at['step']}: {at['instruction']}"
    if verdict == "shared":
        return "shared: the second build reused every step of the first"
    reason = (cell.get("reason") or "").strip().splitlines()
    return f"{verdict}: {reason[0]}" if reason else str(verdict)


def condition(cell: Mapping[str, Any]) -> str:
    cli_build = cell.get("cli_build", "default")
    setting = "unset" if cli_build == "default" else f"={cli_build}"
    return f"scenario {cell.get('scenario')}, COMPOSE_DOCKER_CLI_BUILD {setting}"


def cell_summary(cell: Mapping[str, Any]) -> list[str]:
    engine = cell.get("engine") or {}
    cli = cell.get("cli") or {}
    sdk = cell.get("sdk") or "not installed"
    lines = [
        f"docker-compose {cell['compose']} (docker SDK {sdk}, Python {cell.get('python')}) "
        f"vs docker build {cli.get('version', '?')} (legacy builder)",
        f"engine {engine.get('version', '?')} (API {engine.get('api_version', '?')}, "
        f"{engine.get('storage_driver', '?')}); {condition(cell)}; "
        f"order: {' then '.join(cell.get('order') or [])}",
    ]
    owner = cell.get("owner")
    if owner:
        lines.append(f"build context files owned by {owner['uid']}:{owner['gid']}")
    for rule in cell.get("overrides") or []:
        lines.append(f"override: {rule['requirement']} ({rule['reason']})")
    if cell.get("sdk_in_range") is False:
        lines.append("note: this docker SDK is outside the range the compose release declares")
    lines.append(f"verdict: {verdict_phrase(cell)}")
    lines += [f"why: {line}" for line in cell.get("explain_summary") or []]
    return lines
