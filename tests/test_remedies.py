"""Which remedies a diverged cell tries, their order, the chosen line and what a run showed:
the pure part of harness.app.remedies (the verdicts themselves come from engine tests)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.app.remedies import find_remedies
from harness.core.config import ConfigError, parse_config
from harness.core.dockerfile import parse_instructions, takes_chown, with_chown
from harness.core.flavour import NO_BUILDX, cannot_run
from harness.core.model import CellResult, CellSpec, CliInfo, ResultFormatError, StepRef
from harness.core.remedies import (
    BUILDKIT,
    KINDS,
    by_cost,
    chosen,
    nearest_first,
    newest_to_try,
    outcome,
    release_trial,
    trials,
)
from harness.core.remedy import MISSES, NOT_TRIED, REMEDY_VERDICTS, SHARES, Remedy
from harness.core.report import MatrixDocument
from harness.present.bisect_report import ends_advice, terminal_report
from harness.present.bisect_report import markdown_report as bisect_markdown
from harness.present.publish import Results, compose_body
from harness.present.summary import cell_summary
from harness.present.tables import markdown_report
from harness.present.words import remedies_cost, remedy_line, what_to_do
from tests.factories import CLI, bisect_report, cell_result

WHAT_TO_DO_HEADING = "What to do (the cheapest remedy proven by builds, per diverged cell):"
OLD_CLI = CliInfo("docker-20", "20.10.24")


def _kinds(spec: CellSpec, cell: CellResult, clis: tuple[CliInfo, ...] = ()) -> list[str]:
    return [trial.kind for trial in trials(spec, cell, clis)]


def test_an_old_release_tries_what_it_can_and_says_what_it_cannot() -> None:
    spec = CellSpec("1.20.0")
    found = trials(spec, cell_result("1.20.0", "diverged"), (CLI, OLD_CLI))
    by_kind = {trial.kind: trial for trial in found}
    assert [t.kind for t in found] == [
        "cli-build", "chown", "buildkit", "root-owned", "cli", "root-owned+cli",
    ]  # fmt: skip
    assert by_kind["cli-build"].spec is None and "1.25" in (by_kind["cli-build"].reason or "")
    assert by_kind["buildkit"].spec is None and "BuildKit" in (by_kind["buildkit"].reason or "")
    assert by_kind["chown"].spec == replace(spec, chown="0:0")
    assert by_kind["root-owned"].spec == replace(spec, uid=0, gid=0)
    assert by_kind["cli"].cli == OLD_CLI and by_kind["cli"].spec == spec  # 28.2.2 is the cell's
    assert by_kind["root-owned+cli"].cli == OLD_CLI
    assert by_kind["root-owned+cli"].spec == replace(spec, uid=0, gid=0)


def test_the_cli_build_and_buildkit_are_tried_where_compose_has_them() -> None:
    spec = CellSpec("1.27.4")
    found = {t.kind: t for t in trials(spec, cell_result("1.27.4", "diverged"))}
    assert found["cli-build"].spec == replace(spec, cli_build="1")
    assert found["buildkit"].spec == replace(spec, builder=BUILDKIT, cli_build="1")
    assert "COMPOSE_DOCKER_CLI_BUILD=1" in found["buildkit"].remedy
    on_cli = CellSpec("1.29.2")  # the CLI build is already the default: nothing to switch on
    assert "cli-build" not in _kinds(on_cli, cell_result("1.29.2", "diverged"))
    off = CellSpec("1.29.2", cli_build="0")
    assert "cli-build" in _kinds(off, cell_result("1.29.2", "diverged", cli_build="0"))
    go = CellSpec("2.40.3")
    go_trials = {t.kind: t for t in trials(go, cell_result("2.40.3", "diverged"))}
    assert "cli-build" not in go_trials
    assert go_trials["buildkit"].spec == replace(go, builder=BUILDKIT)
    buildkit = replace(go, builder=BUILDKIT)
    assert "buildkit" not in _kinds(buildkit, cell_result("2.40.3", "diverged"))


def test_a_cell_that_shares_or_fails_needs_no_remedy() -> None:
    assert trials(CellSpec("1.20.0"), cell_result("1.20.0", "shared")) == []
    assert trials(CellSpec("1.20.0"), cell_result("1.20.0", "error")) == []


def test_root_owned_only_when_the_context_is_not_and_a_project_cannot_be_changed() -> None:
    root = cell_result("1.20.0", "diverged", owners=("0:0",))
    assert "root-owned" not in _kinds(CellSpec("1.20.0"), root, (OLD_CLI,))
    assert "root-owned+cli" not in _kinds(CellSpec("1.20.0"), root, (OLD_CLI,))
    project = CellSpec("1.20.0", project="app", service="web")
    trial = next(
        t for t in trials(project, cell_result("1.20.0", "diverged")) if t.kind == "root-owned"
    )
    assert trial.spec is None and trial.not_tried().verdict == NOT_TRIED


def test_chown_only_for_a_step_that_copies_files_without_one() -> None:
    run = cell_result("1.20.0", "diverged", instruction="RUN make")
    assert "chown" not in _kinds(CellSpec("1.20.0"), run)
    owned = cell_result("1.20.0", "diverged", instruction="COPY --chown=1:1 . /app")
    assert "chown" not in _kinds(CellSpec("1.20.0"), owned)


def test_another_release_resets_what_that_release_does_not_have() -> None:
    spec = CellSpec("1.20.0", sdk="3.1.4", cli_build="0")
    assert release_trial(spec, "2.18.1").spec == replace(
        spec, compose="2.18.1", sdk="auto", cli_build="default"
    )
    assert release_trial(spec, "1.29.2").spec == replace(spec, compose="1.29.2", sdk="auto")


versions = st.lists(
    st.tuples(st.integers(1, 2), st.integers(0, 40), st.integers(0, 6)).map(
        lambda v: ".".join(map(str, v))
    ),
    min_size=1,
    max_size=30,
    unique=True,
)


@given(versions, st.data())
def test_nearest_first_lists_every_other_release_by_distance(
    releases: list[str], data: st.DataObject
) -> None:
    here = data.draw(st.sampled_from(releases))
    order = sorted(releases, key=lambda r: tuple(map(int, r.split("."))))
    found = nearest_first(here, releases)
    assert sorted(found) == sorted(r for r in releases if r != here)
    distances = [abs(order.index(r) - order.index(here)) for r in found]
    assert distances == sorted(distances)


@given(versions, st.data())
def test_newest_to_try_is_at_most_two_other_releases_the_newest_among_them(
    releases: list[str], data: st.DataObject
) -> None:
    here = data.draw(st.sampled_from(releases))
    picks = newest_to_try(here, releases)
    others = [r for r in releases if r != here]
    assert here not in picks and len(picks) <= 2 and len(set(picks)) == len(picks)
    if others:
        newest = max(others, key=lambda r: tuple(map(int, r.split("."))))
        assert newest in picks


remedies = st.lists(
    st.builds(
        Remedy,
        kind=st.sampled_from(KINDS),
        remedy=st.text(min_size=1, max_size=10),
        verdict=st.sampled_from(REMEDY_VERDICTS),
    ),
    max_size=8,
)


@given(remedies)
def test_the_chosen_remedy_is_the_cheapest_that_the_engine_proved(found: list[Remedy]) -> None:
    best = chosen(found)
    helping = [r for r in found if r.verdict == SHARES]
    if not helping:
        assert best is None
        return
    assert best is not None and best.helps
    assert all(KINDS.index(best.kind) <= KINDS.index(r.kind) for r in helping)
    ordered = by_cost(found)
    assert sorted(ordered, key=lambda r: KINDS.index(r.kind)) == ordered
    assert sorted(map(repr, ordered)) == sorted(map(repr, found))


def test_a_remedy_verdict_is_what_its_cell_showed() -> None:
    trial = trials(CellSpec("1.27.4"), cell_result("1.27.4", "diverged"))[0]
    timings = {"build_compose": 1.0, "build_cli": 1.0}
    shared = outcome(trial, cell_result("1.27.4", "shared", timings=timings), False, 2.5)
    assert (shared.verdict, shared.builds, shared.seconds) == (SHARES, 2, 2.5)
    missed = outcome(trial, cell_result("1.27.4", "diverged", 4, timings=timings), False, 1)
    assert (missed.verdict, missed.diverged_at) == (MISSES, 4)
    failed = outcome(
        trial, cell_result("1.27.4", "error", reason="cli build failed: no\nx"), False, 1
    )
    assert failed.verdict == NOT_TRIED and failed.reason == "error: cli build failed: no"
    stored = outcome(trial, cell_result("1.27.4", "shared", timings=timings), True, 9.0)
    assert (stored.builds, stored.seconds, stored.stored) == (0, 0.0, True)
    assert missed.stage is None  # a single-stage Dockerfile has no stage to name


def test_a_remedy_that_still_misses_in_a_stage_names_it() -> None:
    """Multi-stage: where the trial's builds still part, step and stage, as the verdict's."""
    spec = CellSpec("1.27.4", scenario="multistage")
    at = StepRef(4, "ADD blah.txt /src/blah.txt", stage="builder")
    cell = cell_result("1.27.4", "diverged", diverged_at=at)
    trial = next(t for t in trials(spec, cell) if t.kind == "chown")
    timings = {"build_compose": 1.0, "build_cli": 1.0}
    missed = outcome(trial, replace(cell, timings=timings), False, 3.5)
    assert (missed.verdict, missed.diverged_at, missed.stage) == (MISSES, 4, "builder")
    assert remedy_line(missed) == (
        "❌ still misses at step 4 (stage builder): add --chown=0:0 to every ADD and COPY of "
        "the build context (2 builds, 3.5 s)"
    )
    found = cell_result("1.27.4", "diverged", diverged_at=at, remedies=(missed,))
    assert found.to_json()["remedies"][0]["stage"] == "builder"
    assert CellResult.from_json(found.to_json()) == found


def test_remedies_travel_in_the_result_json_and_a_bad_one_is_named() -> None:
    found = (
        Remedy("cli-build", "set X", SHARES, builds=2, seconds=3.0, changes={"cli_build": "1"}),
        Remedy("chown", "add --chown", MISSES, builds=2, seconds=4.0, diverged_at=3),
        Remedy("buildkit", "BuildKit", NOT_TRIED, reason="no BuildKit"),
    )
    cell = cell_result("1.27.4", "diverged", remedies=found)
    data = cell.to_json()
    assert [r["remedy"] for r in data["remedies"]] == ["set X", "add --chown", "BuildKit"]
    assert [r["verdict"] for r in data["remedies"]] == [SHARES, MISSES, NOT_TRIED]
    assert CellResult.from_json(data) == cell
    data["remedies"][0]["verdict"] = "maybe"
    with pytest.raises(ResultFormatError, match=r"remedies\[0\]\.verdict"):
        CellResult.from_json(data)
    assert "remedies" not in cell_result("1.27.4", "diverged").to_json()


def test_the_summary_leads_with_what_to_do_and_shows_every_remedy() -> None:
    found = (
        Remedy("cli-build", "set COMPOSE_DOCKER_CLI_BUILD=1", SHARES, builds=2, seconds=3.0),
        Remedy("chown", "add --chown=0:0", MISSES, builds=2, seconds=4.0, diverged_at=3),
        Remedy("buildkit", "use BuildKit", NOT_TRIED, reason="needs 1.25"),
    )
    lines = cell_summary(cell_result("1.27.4", "diverged", remedies=found))
    verdict = next(i for i, line in enumerate(lines) if line.startswith("verdict:"))
    assert lines[verdict + 1].startswith("What to do: set COMPOSE_DOCKER_CLI_BUILD=1")
    assert "remedy: ❌ still misses at step 3: add --chown=0:0 (2 builds, 4.0 s)" in lines
    assert "remedy: · not tried: use BuildKit — needs 1.25" in lines
    none = (Remedy("chown", "add --chown=0:0", MISSES, diverged_at=3),)
    assert "no remedy tried here" in (what_to_do(none) or "")
    assert what_to_do(()) is None and what_to_do(None) is None
    cells = [cell_result("1.27.4", "diverged", remedies=found), cell_result("1.20.0", "shared")]
    assert remedies_cost(cells) == (
        "Trying the remedies took 4 extra builds (4–4 per cell) and 7.0 s over 1 diverged cells."
    )


dockerfiles = st.lists(
    st.sampled_from(
        [
            "RUN make",
            "ADD a.txt /a.txt",
            "COPY . /app",
            "copy x y",
            "COPY --chown=1:1 b /b",
            "COPY --from=builder /src/app /app",
            "copy --FROM=0 /a /a",
            "FROM scratch",
            "FROM builder",
            "# a comment naming COPY",
            "RUN echo \\\n  COPY not-an-instruction",
            "",
        ]
    ),
    max_size=8,
).map(lambda lines: "\n".join(["FROM base AS builder", *lines]) + "\n")


@given(dockerfiles)
def test_with_chown_gives_every_copy_of_the_context_an_owner_and_changes_nothing_else(
    source: str,
) -> None:
    """Steps keep their numbers and stages (the verdict's); a COPY --from keeps the owners of
    the stage's files it copies."""
    before, after = parse_instructions(source), parse_instructions(with_chown(source, "0:0"))
    assert [(i.step, i.keyword, i.stage) for i in before] == [
        (i.step, i.keyword, i.stage) for i in after
    ]
    for old, new in zip(before, after, strict=True):
        reads_context = old.keyword in ("ADD", "COPY") and "--from" not in old.text.lower()
        if reads_context and "--chown" not in old.text:
            keyword, rest = old.text.split(None, 1)
            assert new.text == f"{keyword} --chown=0:0 {rest}"
            assert takes_chown(old.text) and not takes_chown(new.text)
        else:
            assert new.text == old.text
            assert not takes_chown(old.text)


def test_chown_is_tried_only_where_the_missed_step_reads_the_context() -> None:
    spec = CellSpec("1.27.4", scenario="multistage")

    def tried(instruction: str) -> bool:
        cell = cell_result("1.27.4", "diverged", 4, instruction=instruction)
        return "chown" in _kinds(spec, cell)

    assert tried("ADD blah.txt /src/blah.txt")
    assert tried("copy . /app")
    assert not tried("COPY --from=builder /src/app /usr/local/bin/app")  # a stage's files
    assert not tried("COPY --chown=1000:1000 blah.txt /blah.txt")  # its owner is set
    assert not tried("FROM cache-bisect/busybox AS builder")  # a trigger of the base
    assert not tried("RUN cat /src/blah.txt > /src/app")


def test_remedies_in_run_are_read_and_checked() -> None:
    config = parse_config('[matrix]\ncompose = ["1.20.0"]\n[run]\nremedies = true\n', "m.toml")
    assert config.run.remedies is True
    with pytest.raises(ConfigError, match="remedies: must be true or false"):
        parse_config('[matrix]\ncompose = ["1.20.0"]\n[run]\nremedies = 1\n', "m.toml")


def test_the_matrix_report_and_the_comment_lead_with_what_to_do() -> None:
    proven = Remedy("cli-build", "set COMPOSE_DOCKER_CLI_BUILD=1", SHARES, builds=2, seconds=3)
    missed = Remedy("root-owned", "check out as root", MISSES, builds=2, seconds=2, diverged_at=3)
    cells = [
        cell_result("1.26.1", "diverged", remedies=(proven, missed)),
        cell_result("1.27.4", "diverged", remedies=(proven, missed)),
        cell_result("1.20.0", "diverged", remedies=(replace(missed, seconds=1.0),)),
        cell_result("1.29.2", "shared"),
    ]
    report = markdown_report(cells)
    lines = report.splitlines()
    heading = lines.index(WHAT_TO_DO_HEADING)
    assert heading < next(i for i, line in enumerate(lines) if line.startswith("|"))
    assert lines[heading + 2].startswith("- set COMPOSE_DOCKER_CLI_BUILD=1 (compose 1.26.1")
    assert lines[heading + 3].startswith("- no remedy tried here made the two builds share")
    assert "- check out as root — ❌ still misses at step 3: 3" in lines
    assert "Trying the remedies took 10 extra builds (2–4 per cell)" in report
    document = MatrixDocument(tuple(cells), "matrix.toml", "nox -s matrix", "now")
    data = document.to_json()
    assert [a["remedy"] for a in data["what_to_do"]] == ["set COMPOSE_DOCKER_CLI_BUILD=1", None]
    assert MatrixDocument.from_json(data).what_to_do == document.what_to_do
    body = compose_body("matrix", Results(matrix=document), version="x").text
    assert body.index(WHAT_TO_DO_HEADING) < body.index("cli_build=default:")
    assert body.count(WHAT_TO_DO_HEADING) == 1  # led with, not repeated by the report
    plain = MatrixDocument((cell_result("1.20.0", "diverged"),), "matrix.toml", "m", "now")
    assert "what_to_do" not in plain.to_json() and WHAT_TO_DO_HEADING not in markdown_report(
        list(plain.cells)
    )


def test_bisect_reports_what_to_do_at_its_remedied_ends() -> None:
    proven = Remedy("release", "use docker-compose 1.29.2", SHARES, builds=2, seconds=3)
    report = bisect_report(lambda compose, sdk, run: "diverged" if compose < "1.21" else "shared")
    low = next(p for p in report.probes if p.version == report.resolved[0])
    assert low.cell is not None
    remedied = replace(low, cell=replace(low.cell, remedies=(proven,)))
    report = replace(report, probes=tuple(remedied if p is low else p for p in report.probes))
    expected = (
        "What to do: use docker-compose 1.29.2 (proven: the two builds then share the cache)."
    )
    assert ends_advice(report) == [f"{expected} (compose {low.version})"]
    assert f"{expected} (compose {low.version})" in terminal_report(report)
    assert "- ✅ shares: use docker-compose 1.29.2 (2 builds, 3.0 s)" in bisect_markdown(report)


class _NoBuildxCells:
    """Trial cells on a reference CLI without buildx: every other trial shares."""

    def __init__(self) -> None:
        self.built: list[CellSpec] = []

    def known(self, spec: CellSpec) -> CellResult | None:
        return None

    def get(self, spec: CellSpec, cli: CliInfo | None) -> tuple[CellResult, bool]:
        self.built.append(spec)
        return cell_result(spec.compose, "shared"), False

    def unbuildable(self, spec: CellSpec, cli: CliInfo | None) -> str | None:
        return cannot_run(spec, cli_has_buildkit=False)


def test_a_buildkit_trial_the_cli_cannot_build_is_not_tried_and_says_why() -> None:
    """Before, the trial installed compose and failed ('BuildKit is enabled but the buildx
    component is missing or broken'); now it is not tried, with the reason, and not built."""
    spec = CellSpec(compose="2.40.3")
    cells = _NoBuildxCells()
    found = find_remedies(spec, cell_result("2.40.3", "diverged", 3), cells, releases=())
    buildkit = [remedy for remedy in found if remedy.kind == "buildkit"]
    assert [(r.verdict, r.reason) for r in buildkit] == [(NOT_TRIED, NO_BUILDX)]
    assert cells.built and all(built.builder.legacy for built in cells.built)
