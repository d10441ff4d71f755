"""A reproducible build failure is a behaviour a bisection can see change."""

from __future__ import annotations

from harness.app.bisect import SDK, BisectRequest, run_bisect
from harness.core.failure import engine_setup_problem, failure_kind
from harness.core.model import Behaviour, CellResult, CellSpec, Verdict
from harness.core.report import BisectReport
from harness.present.bisect_report import answer
from harness.present.words import describe
from tests.factories import VERSIONS, cell_result

CELL = {"/tmp/cache-bisect-x/cell-0123456789ab": "<cell>", "0123456789ab": "<id>"}


def test_the_kind_of_failure_is_the_same_in_every_cell() -> None:
    one = failure_kind(
        "compose",
        "ERROR: Cannot locate specified Dockerfile: ./Dockerfile",
        CELL,
    )
    assert one == "compose: ERROR: Cannot locate specified Dockerfile: ./Dockerfile"
    line = "error: open /tmp/cache-bisect-x/cell-0123456789ab/project/x: sha256:" + "a" * 64
    assert failure_kind("cli", line, CELL) == "cli: error: open <cell>/project/x: <id>"


def test_failures_that_say_nothing_about_the_versions_are_not_behaviours() -> None:
    for line in (
        "requests.exceptions.ConnectionError: ('Connection aborted.', ...)",
        "TypeError: load_config() got an unexpected keyword argument 'config_dict'",
        "ModuleNotFoundError: No module named 'docker.utils.config'",
        "",
    ):
        assert failure_kind("compose", line, CELL) is None, line


def test_a_failing_build_is_a_behaviour_with_a_stored_form() -> None:
    failing = cell_result("1.20.0", "error", failure="compose: ERROR: Cannot locate x")
    behaviour = Behaviour.of(failing)
    assert behaviour == Behaviour(Verdict.ERROR, failure="compose: ERROR: Cannot locate x")
    assert behaviour.to_json() == "fails: compose: ERROR: Cannot locate x"
    assert Behaviour.from_json(behaviour.to_json()) == behaviour
    assert describe(behaviour) == "the build fails (compose: ERROR: Cannot locate x)"
    assert Behaviour.of(cell_result("1.20.0", "error")) is None  # engine trouble: a skip
    assert CellResult.from_json(failing.to_json()) == failing


class FailsUntil:
    """docker SDKs before ``fixed`` fail to build; the rest share the cache."""

    def __init__(self, fixed: str) -> None:
        self.fixed = fixed

    def get(self, spec: CellSpec, run: int = 0) -> tuple[CellResult, bool]:
        if spec.sdk < self.fixed:
            failure = "compose: ERROR: Cannot locate specified Dockerfile: ./Dockerfile"
            return cell_result(spec.compose, "error", sdk=spec.sdk, failure=failure), False
        return cell_result(spec.compose, "shared", sdk=spec.sdk), False


def test_bisect_finds_where_a_failing_build_starts_to_work() -> None:
    request = BisectRequest(SDK, "1.20.0", "1.22.0", CellSpec(compose="1.20.0"))
    report = run_bisect(request, VERSIONS, FailsUntil("1.21.1"), log=lambda line: None)
    assert (report.status, report.last_old, report.first_new) == ("found", "1.21.0", "1.21.1")
    failing = "compose: ERROR: Cannot locate specified Dockerfile: ./Dockerfile"
    assert report.old_verdict == Behaviour(Verdict.ERROR, failure=failing)
    assert report.new_verdict == Behaviour(Verdict.SHARED)
    assert answer(report).startswith(
        f"docker 1.21.0 behaves like 1.20.0 (the build fails ({failing})); 1.21.1 is the first"
    )
    stored = report.to_json()
    assert (stored["old_verdict"], stored["new_verdict"]) == (f"fails: {failing}", "shared")
    assert report.reproduce.endswith("--sdk 1.21.1")
    assert report.reproduce_old is not None and report.reproduce_old.endswith("--sdk 1.21.0")


def test_a_missing_engine_bridge_is_the_engines_set_up_not_the_versions() -> None:
    output = "#5 ERROR: executor failed running [/bin/sh -c echo]: network bridge not found\n"
    assert "--bridge=none" in (engine_setup_problem(output) or "")
    assert engine_setup_problem("Step 3/4 : ADD blah.txt /usr/src/blah.txt\n") is None


def test_a_registry_out_of_reach_is_not_a_behaviour_of_the_versions() -> None:
    line = (
        "failed to solve with frontend dockerfile.v0: failed to create LLB definition: failed to "
        'do request: Head "https://registry-1.docker.io/v2/x/manifests/y": dial tcp: lookup '
        "registry-1.docker.io: no such host"
    )
    assert failure_kind("cli", line, {}) is None


def test_a_report_harness_0_2_0_stored_in_words_reads_back_typed() -> None:
    request = BisectRequest(SDK, "1.20.0", "1.22.0", CellSpec(compose="1.20.0"))
    stored = run_bisect(request, VERSIONS, FailsUntil("1.21.1"), log=lambda line: None).to_json()
    old = BisectReport.from_json(
        stored | {"old_verdict": "the build fails (compose: no (such) file)", "new_verdict": None}
    )
    assert old.old_verdict == Behaviour(Verdict.ERROR, failure="compose: no (such) file")
    assert old.new_verdict is None
    words = BisectReport.from_json(stored | {"old_verdict": "diverged at step 12"})
    assert words.old_verdict == Behaviour(Verdict.DIVERGED, 12)
