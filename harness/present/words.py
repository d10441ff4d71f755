"""One vocabulary for every sentence and table a user reads: verdicts, behaviours, conditions.

The terminal summary, the matrix tables, the bisect report and the published comment all take
their words from here, so a verdict is named the same way wherever it is read.
"""

from __future__ import annotations

from harness.core.model import Behaviour, CellResult, Verdict

COMPOSE_CLI_BUILD = "COMPOSE_DOCKER_CLI_BUILD"

# A table cell: a mark and a word per verdict ("{step}" is the step that missed).
MARKS = {
    Verdict.SHARED: "✅ shared",
    Verdict.DIVERGED: "❌ step {step}",
    Verdict.UNINSTALLABLE: "⛔ uninstallable",
    Verdict.ERROR: "⚠️ error",
    Verdict.TIMEOUT: "⏳ timeout",
}
NOT_RUN = "·"
LEGEND = (
    "✅ shared: the second build reused every step of the first · "
    "❌ step N: the cache missed at step N and every later step ran again · "
    "⛔ the release cannot be installed on this Python · ⚠️ a build failed · "
    "⏳ a build timed out · † docker SDK outside the range the compose release declares"
)

# Verdict -> (singular, plural) predicate; "{cache}" names the cache once, then says "it".
PREDICATES = {
    Verdict.SHARED: ("shares {cache}", "share {cache}"),
    Verdict.DIVERGED: ("misses {cache}", "miss {cache}"),
    Verdict.UNINSTALLABLE: ("cannot be installed", "cannot be installed"),
    Verdict.ERROR: ("fails with an error", "fail with an error"),
    Verdict.TIMEOUT: ("times out", "time out"),
}


def mark(result: CellResult) -> str:
    step = result.diverged_at.step if result.diverged_at else "?"
    return MARKS[result.verdict].format(step=step)


def verdict_phrase(result: CellResult) -> str:
    """The verdict as a short sentence, with the step or the first line of the reason."""
    if result.verdict is Verdict.DIVERGED and result.diverged_at:
        at = result.diverged_at
        return f"diverged at step {at.step}: {at.instruction}"
    if result.verdict is Verdict.SHARED:
        return "shared: the second build reused every step of the first"
    reason = (result.reason or "").strip().splitlines()
    return f"{result.verdict}: {reason[0]}" if reason else str(result.verdict)


def behaviour_text(stored: str | None) -> str:
    """A stored behaviour ("diverged@3", "shared", "skip", "flaky (...)") in words."""
    if stored is None:
        return "?"
    try:
        behaviour = Behaviour.from_json(stored)
    except ValueError:
        return stored
    return describe(behaviour)


def describe(behaviour: Behaviour) -> str:
    if behaviour.verdict is Verdict.DIVERGED:
        return f"diverged at step {behaviour.step}"
    if behaviour.failure is not None:
        return f"the build fails ({behaviour.failure})"
    return str(behaviour.verdict)


def cli_build_label(cli_build: str) -> str:
    """How COMPOSE_DOCKER_CLI_BUILD was set for a cell."""
    setting = "unset" if cli_build == "default" else f"={cli_build}"
    return f"{COMPOSE_CLI_BUILD} {setting}"


def condition_phrase(scenario: str, cli_build: str) -> str:
    return f"scenario {scenario}, {cli_build_label(cli_build)}"


def culprit_sentence(package: str | None, reason: str) -> str:
    """Who changed the behaviour, as a sentence."""
    who = package or "unclear"
    return f"Who changed it: {who} — {reason}."
