"""Every scenario on the real engine, with explain on. Each verdict must agree with the
engine's own evidence (image chains, build logs, captured contexts) and with the behaviour
the scenario declares for that release (fixtures/scenarios.toml, with its upstream source)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from harness.app.runner import CellRunner
from harness.app.store import storable
from harness.core.model import Behaviour, CellResult, CellSpec, Verdict
from harness.core.scenarios import CellScope
from harness.edges.baseimage import BaseImageError
from harness.edges.fixtures import load_scenarios

pytestmark = pytest.mark.engine

SCENARIOS = load_scenarios()
OFFLINE = sorted(name for name, s in SCENARIOS.items() if s.base == "busybox")
# docker SDK 2.7.0 (before the 3.x .dockerignore and symlink fixes), 3.1.3, and the newest
CASES = [("1.19.0", "default"), ("1.20.0", "default"), ("1.29.2", "0")]


def check_expectation(cell: dict[str, Any]) -> None:
    """The cell shows the behaviour its scenario declares for this release."""
    scenario = SCENARIOS[cell["scenario"]]
    expectation = scenario.expected(CellScope.of(CellResult.from_json(cell)))
    assert expectation is not None, f"{cell['scenario']} declares nothing for this cell"
    behaviour = Behaviour.of(CellResult.from_json(cell))
    observed = behaviour.to_json() if behaviour else f"skip ({cell['reason']})"
    assert expectation.matches(observed), (
        f"{cell['scenario']}, compose {cell['compose']} (SDK {cell['sdk']}): {observed}; "
        f"expected {expectation.behaviour} ({expectation.source})"
    )


def check_against_evidence(cell: dict[str, Any]) -> None:
    verdict = cell["verdict"]
    assert verdict in ("shared", "diverged", "error"), cell["reason"]
    second = cell["order"][1]
    cached = {event["step"]: event["cached"] for event in cell["build_steps"][second]}
    if verdict == "error":
        assert cell["reason"].split()[0] in ("compose", "cli", "base")
        return
    steps = cell["steps"]
    numbers = [s["step"] for s in steps]  # an ARG before the first FROM leaves no image
    assert numbers == list(range(numbers[0], numbers[-1] + 1))
    # a FROM is never a cache hit in the log; every other shared step must be one
    reused = [s for s in steps if s["shared"] and not s["instruction"].startswith("FROM")]
    assert all(cached[s["step"]] for s in reused)
    assert cell["final_image_reused"] == steps[-1]["shared"]
    if verdict == "shared":
        assert all(s["shared"] for s in steps)
        assert "explain" not in cell
        return
    at = cell["diverged_at"]["step"]
    before = [s for s in steps if s["step"] < at]
    assert all(s["shared"] for s in before) and not steps[len(before)]["shared"]
    assert cached[at] is False
    assert cell["explain_summary"], "a diverged cell is explained"


@pytest.mark.parametrize(("compose", "cli_build"), CASES)
@pytest.mark.parametrize("scenario", OFFLINE)
def test_scenario_verdict_matches_the_engines_evidence(
    runner: CellRunner, scenario: str, compose: str, cli_build: str
) -> None:
    cell = runner.run(
        CellSpec(compose=compose, scenario=scenario, cli_build=cli_build, explain=True)
    ).to_json()
    check_against_evidence(cell)
    check_expectation(cell)
    assert cell["scenario"] == scenario


# The scenarios added after compose 2.x, whose 2.x expectations rest on results/scenarios-v2
# (the 20.10 and 28.5 CLIs); here with the run's own CLI, on either side of compose 2.19's tar
# change. 18 cells, a few seconds each.
NEWER = [
    "multistage",
    "multistage-target",
    "symlinked-dockerfile",
    "copy-from-image",
    "cache-from",
    "build-labels",
    "hard-links",
    "capability",
    "special-files",
]


@pytest.mark.parametrize("compose", ["2.18.1", "2.40.3"])
@pytest.mark.parametrize("scenario", NEWER)
def test_compose_v2_legacy_verdict_matches_the_engines_evidence(
    runner: CellRunner, scenario: str, compose: str
) -> None:
    cell = runner.run(CellSpec(compose=compose, scenario=scenario, explain=True)).to_json()
    check_against_evidence(cell)
    check_expectation(cell)
    assert cell["compose_reports"] == compose


@pytest.mark.parametrize(
    ("scenario", "sdk"), [("dockerfile-excluded", "3.1.1"), ("dockerignore-comment", "3.1.0")]
)
def test_changelog_fixes_with_an_explicit_sdk(runner: CellRunner, scenario: str, sdk: str) -> None:
    """Fixes that no compose release's own SDK shows: an SDK from before the fix."""
    spec = CellSpec(compose="1.20.0", sdk=sdk, scenario=scenario, explain=True)
    cell = runner.run(spec).to_json()
    check_against_evidence(cell)
    check_expectation(cell)


@pytest.mark.parametrize("scenario", ["seed", "copy-all"])
def test_explain_names_the_owner_fields_that_differ(runner: CellRunner, scenario: str) -> None:
    cell = runner.run(CellSpec(compose="1.20.0", scenario=scenario, explain=True)).to_json()
    assert cell["verdict"] == "diverged"
    fields = {(d["field"], d["compose"], d["cli"]) for d in cell["explain"]}
    assert ("uid", 1000, 0) in fields and ("gid", 1000, 0) in fields
    assert any(
        line.startswith("blah.txt: uid 1000 vs 0, gid 1000 vs 0")
        for line in cell["explain_summary"]
    )


def test_registry_scenario_says_what_it_needs(runner: CellRunner) -> None:
    try:
        cell = runner.run(CellSpec(compose="1.20.0", scenario="seed-alpine")).to_json()
    except BaseImageError as error:  # no registry here: stopped before the install
        assert str(error).startswith("alpine:3.7 is not in the ")
        assert "DOCKER_HOST or --engine" in str(error)
        return
    check_against_evidence(cell)


@pytest.mark.parametrize("cli_build", ["0", "default"])
def test_a_missing_cache_from_image_is_proven_the_cause_when_compose_builds_second(
    runner: CellRunner, cli_build: str
) -> None:
    """Through docker-py (=0) and through the CLI compose runs (default from 1.28): compose
    sends cachefrom naming a missing image, so, second, it reuses none of the CLI's steps;
    replaying its cachefrom alone on the CLI's request reproduces the miss."""
    spec = CellSpec(
        compose="1.29.2",
        scenario="cache-from",
        cli_build=cli_build,
        order="cli-first",
        explain=True,
    )
    cell = runner.run(spec).to_json()
    check_against_evidence(cell)
    check_expectation(cell)
    cause = cell["explain_cause"]
    assert cause["status"] == "proven", cause
    assert [(e["path"], e["field"]) for e in cause["minimal"]] == [("", "query:cachefrom")]
    assert "cache-bisect/never-built:missing" in cause["minimal"][0]["compose"]


def test_a_client_that_hangs_on_a_fifo_is_a_stored_behaviour_bisect_can_see(
    runner: CellRunner,
) -> None:
    """docker-py 2.6.1 opens the context's fifo to read it and waits for a writer for ever
    (fixed in 2.7.0, docker-py PR #1825): past the timeout that is a behaviour, stored and
    compared by bisect, not a skip; 2.7.0 sends the fifo's header and shares the cache."""
    spec = CellSpec(compose="1.18.0", sdk="2.6.1", scenario="special-files", timeout=30)
    hung = runner.run(spec)
    assert hung.verdict is Verdict.ERROR and storable(hung), hung.reason
    assert hung.reason and "hung opening a fifo" in hung.reason
    check_expectation(hung.to_json())
    fixed = runner.run(replace(spec, sdk="2.7.0", timeout=600)).to_json()
    check_against_evidence(fixed)
    check_expectation(fixed)
    assert Behaviour.of(hung) != Behaviour.of(CellResult.from_json(fixed))
