"""Publishing: headlines, body assembly and cutting, the marker (pure), and the CLI against a
local fake GitHub over real HTTP."""

from __future__ import annotations

import gzip
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import stamina
from ghfake import BODY_LIMIT, FakeGitHub
from hypothesis import example, given, settings
from hypothesis import strategies as st

from harness import __version__
from harness.__main__ import main as harness_main
from harness.cli import publish
from harness.cli.publish import main
from harness.core.errors import HarnessError
from harness.core.model import CellResult, CliInfo, EngineInfo
from harness.core.report import BisectReport, MatrixDocument
from harness.edges.github import Comment
from harness.present.budget import github_length
from harness.present.comment_marker import ResultSet, find_own_comments, signed
from harness.present.console import fail
from harness.present.publish import (
    Results,
    bisect_headline,
    compose_body,
    matrix_headline,
)
from tests.factories import bisect_report, cell_result

HEADING = "## Does `docker compose build` share the layer cache with `docker build`?"
TOKEN = "ghp_publishTOKEN_0123456789_SECRET"
REPO = "octo/widgets"
ISSUE = 5
D = "\u2013"  # en dash between a run's first and last version
GITHUB_COMMENT_LIMIT = 65_536  # what GitHub accepts in one comment body
LONG_ADD = "ADD blah.txt notes.txt /srv/app/data/"
FIRST_CHANGE = "**First change: docker-compose 1.21.0 → 1.21.1 (diverged at step 3 → shared)**"


def run(argv: list[str], **injected: Any) -> int:
    """Publish as ``python -m harness publish`` runs it: a harness error ends as one line."""
    try:
        return publish.run(argv, **injected)
    except HarnessError as error:
        return fail(str(error), error.exit_code)


def matrix_document(cells: list[CellResult]) -> MatrixDocument:
    return MatrixDocument(tuple(cells), "matrix.toml", "nox -s matrix", "2026-11-28T00:00:00")


def cell(compose: str, verdict: str, step: int | None = None, **extra: Any) -> CellResult:
    extra.setdefault("scenario", "add-file")
    return cell_result(compose, verdict, step, sdk="3.7.3", instruction=LONG_ADD, **extra)


# -- matrix headline ------------------------------------------------------------------------


def test_matrix_headline_summarises_runs_in_pep440_order():
    cells = [
        cell("1.25.5", "shared"),
        cell("1.19.0", "diverged", 3),
        cell("1.29.2", "shared"),
        cell("1.24.1", "diverged", 3),
        cell("1.9.0", "diverged", 3),  # PEP 440: before 1.19.0 although "1.9" > "1.1" as text
    ]
    assert matrix_headline(cells) == [
        f"cli_build=default: compose 1.9.0{D}1.24.1 miss the cache at step 3 "
        f"(`ADD blah.txt notes.txt …`), 1.25.5{D}1.29.2 share it"
    ]


def test_matrix_headline_singular_forms_and_naming_the_cache_once():
    cells = [cell("1.27.4", "shared"), cell("1.28.0", "diverged", 2), cell("1.28.1", "timeout")]
    assert matrix_headline(cells) == [
        "cli_build=default: compose 1.27.4 shares the cache, 1.28.0 misses it at step 2 "
        "(`ADD blah.txt notes.txt …`), 1.28.1 times out"
    ]


def test_matrix_headline_one_line_per_condition_in_cli_build_order():
    cells = [
        cell("1.20.0", "shared", cli_build="1"),
        cell("1.20.0", "uninstallable", cli_build="0"),
        cell("1.21.0", "uninstallable", cli_build="0"),
        cell("1.20.0", "error"),
        cell("1.21.0", "error"),
    ]
    assert matrix_headline(cells) == [
        f"cli_build=default: compose 1.20.0{D}1.21.0 fail with an error",
        f"cli_build=0: compose 1.20.0{D}1.21.0 cannot be installed",
        "cli_build=1: compose 1.20.0 shares the cache",
    ]


def test_matrix_headline_names_scenarios_only_when_there_are_several():
    cells = [cell("1.20.0", "shared", scenario="b"), cell("1.20.0", "diverged", scenario="a")]
    assert matrix_headline(cells) == [
        "a, cli_build=default: compose 1.20.0 misses the cache at step 3 "
        "(`ADD blah.txt notes.txt …`)",
        "b, cli_build=default: compose 1.20.0 shares the cache",
    ]


def test_matrix_headline_names_engine_and_cli_when_cells_differ_in_them():
    newer = EngineInfo("28.5.0", "1.51", "overlay2", managed=True)
    cells = [
        cell("1.20.0", "diverged", 3),
        cell("1.20.0", "shared", engine=newer),
        cell("1.20.0", "shared", engine=newer, cli=CliInfo("docker", "28.5.0")),
    ]
    assert matrix_headline(cells) == [
        "engine 20.10.24, CLI 28.2.2, cli_build=default: compose 1.20.0 misses the cache at "
        "step 3 (`ADD blah.txt notes.txt …`)",
        "engine 28.5.0, CLI 28.2.2, cli_build=default: compose 1.20.0 shares the cache",
        "engine 28.5.0, CLI 28.5.0, cli_build=default: compose 1.20.0 shares the cache",
    ]


def test_matrix_headline_splits_runs_by_divergence_step_and_flags_mixed_versions():
    cells = [
        cell("1.20.0", "diverged", 3),
        cell("1.21.0", "diverged", 4),
        cell("1.22.0", "shared", python="3.7"),
        cell("1.22.0", "diverged", 4, python="3.9"),
    ]
    (line,) = matrix_headline(cells)
    assert line == (
        "cli_build=default: compose 1.20.0 misses the cache at step 3 "
        "(`ADD blah.txt notes.txt …`), 1.21.0 misses it at step 4 "
        "(`ADD blah.txt notes.txt …`), 1.22.0 gives mixed verdicts (diverged/shared)"
    )


# -- bisect headline ------------------------------------------------------------------------


def fixed_in_1_21_1(compose: str, sdk: str, run: int) -> str:
    return "shared" if compose >= "1.21.1" else "diverged"


def bisect_doc() -> BisectReport:
    return bisect_report(fixed_in_1_21_1)


def test_bisect_headline_found_names_the_culprit_in_a_sentence():
    head, culprit, compare = bisect_headline(bisect_doc())
    assert head == ("First change: docker-compose 1.21.0 → 1.21.1 (diverged at step 3 → shared)")
    assert culprit == (
        "Who changed it: docker-compose — the behaviour follows docker-compose, "
        "whichever SDK it uses."
    )
    assert "{" not in culprit
    assert compare == "Compare: https://github.com/docker/compose/compare/1.21.0...1.21.1"


def test_bisect_headline_other_statuses():
    same = bisect_headline(bisect_report(lambda compose, sdk, run: "diverged"))
    assert same == ["No change: docker-compose 1.20 and 1.22 behave the same (diverged at step 3)"]

    def untestable_middle(compose: str, sdk: str, run: int) -> str:
        if compose in ("1.20.1", "1.21.0", "1.21.1", "1.21.2"):
            return "error"
        return fixed_in_1_21_1(compose, sdk, run)

    head, candidates, *_ = bisect_headline(bisect_report(untestable_middle))
    assert head.startswith("Ambiguous: the change (diverged at step 3 → shared) lies between")
    assert candidates.startswith("Candidates: 1.20.1, ")

    def unsteady(compose: str, sdk: str, run: int) -> str:
        if compose == "1.21.0" and run == 0:
            return "shared"
        return fixed_in_1_21_1(compose, sdk, run)

    flaky = bisect_headline(bisect_report(unsteady, repeat=3))
    assert flaky[0].startswith("Flaky:")
    assert flaky[1] == "Unsteady probes: 1.21.0 (flaky (diverged at step 3 2/3) 2/3)"
    failed = bisect_headline(bisect_report(lambda compose, sdk, run: "error"))
    assert failed[0].startswith("Bisect failed")


# -- body -----------------------------------------------------------------------------------

SAMPLE_CELLS = [
    cell("1.19.0", "diverged", 3),
    cell("1.24.1", "diverged", 3),
    cell("1.25.5", "shared"),
    cell("1.29.2", "shared"),
]
MATRIX_SET = ResultSet("matrix", ("20.10.24",), ("28.2.2",), ("add-file",))
MEASURED = "Measured on Docker Engine 20.10.24 with the docker CLI 28.2.2 (scenario add-file)."
MARKER_START = "<!-- cache-bisect-harness:publish:matrix set="


def sample_results(**changes: Any) -> Results:
    fields: dict[str, Any] = {"matrix": matrix_document(SAMPLE_CELLS), "bisect": bisect_doc()}
    fields.update(changes)
    return Results(**fields)


def failed(compose: str, reason: str, **extra: Any) -> CellResult:
    return cell(compose, "error", reason=reason, **extra)


def fences_balanced(text: str) -> bool:
    """Whether every fenced block opened in ``text`` is closed (CommonMark's rule: a closing
    fence is at least as long as the opening one and carries no info string)."""
    fence = ""
    for line in text.split("\n"):
        stripped = line.lstrip(" ")
        if not fence:
            if stripped.startswith(("```", "~~~")):
                fence = stripped[: len(stripped) - len(stripped.lstrip(stripped[0]))]
        elif set(stripped.rstrip()) == {fence[0]} and len(stripped.rstrip()) >= len(fence):
            fence = ""
    return fence == ""


def test_body_parts_come_in_order_and_the_headline_names_engine_and_cli():
    body = compose_body("matrix", sample_results(), version="9.9.9")
    text = body.text
    order = [
        HEADING,
        MEASURED,
        f"- cli_build=default: compose 1.19.0{D}1.24.1 miss the cache",
        "| 1.29.2 (SDK 3.7.3)",
        "<details><summary>Environment</summary>",
        "**Reproduce:**\n\n```sh\nnox -s matrix\n```",
        "<sub>Published by cache-bisect-harness 9.9.9.</sub>",
    ]
    positions = [text.index(part) for part in order]
    assert positions == sorted(positions)
    assert text.startswith(f"{HEADING}\n\n{MEASURED}\n\n- cli_build=default:")
    assert body.cuts == () and "First change" not in text
    assert body.result_set == MATRIX_SET


def test_a_result_set_is_told_apart_by_engine_cli_and_scenarios():
    other_cli = [
        cell(c.compose, str(c.verdict), 3, cli=CliInfo("docker", "20.10.24+dfsg1"))
        for c in SAMPLE_CELLS
    ]
    body = compose_body("matrix", sample_results(matrix=matrix_document(other_cli)), version="1")
    assert "with the docker CLI 20.10.24+dfsg1 (scenario add-file)." in body.text
    assert body.result_set == ResultSet("matrix", ("20.10.24",), ("20.10.24+dfsg1",), ("add-file",))
    assert body.result_set.key != MATRIX_SET.key
    engines = [
        cell("1.19.0", "shared", engine=EngineInfo("28.5.0", "1.51", "overlay2", managed=True)),
        cell("1.20.0", "shared", scenario="root-owned"),
    ]
    two = compose_body("matrix", sample_results(matrix=matrix_document(engines)), version="1")
    assert "Docker Engine 20.10.24, 28.5.0 with the docker CLI 28.2.2" in two.text
    assert "(scenarios add-file, root-owned)" in two.text
    assert replace_what("bisect").key != MATRIX_SET.key


def test_bisect_and_all_bodies_render_from_the_typed_report():
    bisect = compose_body("bisect", sample_results(), version=__version__).text
    assert bisect.startswith(f"{HEADING}\n\nMeasured on Docker Engine 20.10.24")
    assert f"\n\n{FIRST_CHANGE}\n" in bisect
    assert "## Bisect: docker-compose 1.20.0 … 1.22.0" in bisect
    assert "| #   | version" in bisect and "nox -s repro -- --compose 1.21.1" in bisect

    both = compose_body("all", sample_results(), version=__version__).text
    assert both.index("First change") < both.index("- cli_build=default") < both.index("| 1.19")
    assert "## Bisect" not in both
    assert "nox -s repro -- --compose 1.21.1" in both and "\nnox -s matrix\n```" in both


def test_why_cells_failed_is_a_log_whose_fence_nothing_inside_can_close():
    reason = "compose build failed: boom\n```sh\nstill the log\n```"
    cells = [*SAMPLE_CELLS, failed("1.30.0", reason), failed("1.31.0", reason)]
    text = compose_body("matrix", sample_results(matrix=matrix_document(cells)), version="1").text
    title = "Why 2 cells ended as `error` (compose 1.30.0, 1.31.0):"
    assert f"{title}\n\n````text\n{reason}\n````" in text
    assert fences_balanced(text)


def test_oversized_bodies_are_cut_details_then_logs_then_rows_and_never_inside_a_fence():
    environment_heavy = [
        cell(f"1.{i}.0", "shared", python=f"3.{i}" + "9" * 3_000) for i in range(30)
    ]
    body = compose_body(
        "matrix", sample_results(matrix=matrix_document(environment_heavy)), version="1"
    )
    assert body.cuts == ("1 collapsed section",)
    assert "<details>" not in body.text and "cut: 1 collapsed section. The full" in body.text
    assert all(f"| 1.{i}.0 (SDK 3.7.3)" in body.text for i in range(30))

    long_logs = [failed(f"1.{i}.0", f"line {i}\n```sh\n" + "x" * 9_000) for i in range(12)]
    body = compose_body("matrix", sample_results(matrix=matrix_document(long_logs)), version="1")
    assert body.cuts[-1].endswith(" logs") and "table rows" not in "; ".join(body.cuts)
    kept_logs = [i for i in range(12) if f"line {i}\n" in body.text]
    assert kept_logs == list(range(len(kept_logs))) and len(kept_logs) < 12  # last ones first
    assert all(f"| 1.{i}.0 (SDK 3.7.3)" in body.text for i in range(12))
    assert fences_balanced(body.text)
    assert github_length(signed(body.text, body.result_set, "a" * 39 + "[bot]")) <= 65_536


def test_rows_go_last_from_the_end_and_the_cut_is_minimal():
    cells = [cell(f"1.{i}.0", "error", reason=f"failure {i}" + "!" * 50) for i in range(1_500)]
    body = compose_body("matrix", sample_results(matrix=matrix_document(cells)), version="1")
    text = body.text
    assert github_length(text) <= GITHUB_COMMENT_LIMIT
    kept = [i for i in range(1_500) if f"| 1.{i}.0 " in text]
    assert kept == list(range(len(kept))) and 0 < len(kept) < 1_500
    cut = 1_500 - len(kept)
    assert body.cuts == ("1 collapsed section", "1500 logs", f"{cut} table rows")
    assert f"_… {cut} more rows cut to fit the comment size limit._" in text
    row = next(line for line in text.split("\n") if line.startswith(f"| 1.{kept[-1]}.0 "))
    posted = signed(text, body.result_set, "a" * 39 + "[bot]")
    assert GITHUB_COMMENT_LIMIT - 2 * len(row) < github_length(posted) <= GITHUB_COMMENT_LIMIT


@example(count=16, reason="0", limit=2_395, what="matrix")  # a newline in the marker's room
@settings(max_examples=40, deadline=None)
@given(
    count=st.integers(min_value=0, max_value=300),
    reason=st.text(min_size=1, max_size=400),
    limit=st.integers(min_value=1_024, max_value=20_000),
    what=st.sampled_from(["matrix", "all"]),
)
def test_any_body_fits_keeps_its_fences_and_cuts_only_when_it_must(count, reason, limit, what):
    cells = [
        failed(f"1.{i}.0", f"{reason} {i}") if i % 3 == 0 else cell(f"1.{i}.0", "diverged", 2)
        for i in range(count)
    ]
    results = sample_results(matrix=matrix_document(cells))
    body = compose_body(what, results, version="1", limit=limit)
    longest = "a" * 39 + "[bot]"  # the marker names the author's login
    assert github_length(signed(body.text, body.result_set, longest)) <= limit
    assert fences_balanced(body.text)
    assert body.text.rstrip().endswith("</sub>")
    uncut = compose_body(what, results, version="1", limit=10**9)
    assert uncut.cuts == ()
    if body.cuts:
        assert github_length(signed(uncut.text, body.result_set, longest)) > limit
    else:
        assert body.text == uncut.text


def test_github_length_never_undercounts():
    text = "a\n→😀"
    assert github_length(text) >= len(text)
    assert github_length(text) >= len(text.encode("utf-16-le")) // 2
    assert github_length(text) >= len(text.encode("utf-8"))


# -- the marker -----------------------------------------------------------------------------


def ours(text: str, login: str = "harness-bot", result_set: ResultSet = MATRIX_SET) -> str:
    return signed(text, result_set, login)


def test_the_marker_names_the_set_the_author_and_a_digest_of_the_text_above():
    mark = ours("table").rsplit("\n", 1)[1]
    assert mark.startswith(f"{MARKER_START}{MATRIX_SET.key} by=harness-bot sha256=")
    assert len(mark.split("sha256=")[1]) == len("0" * 64 + " -->")
    assert ours("table") != ours("table 2") and ours("table").startswith("table\n\n<!--")


def test_only_comments_whose_digest_matches_are_ours_oldest_first():
    comments = [
        Comment(4, "harness-bot", ours("newer"), ""),
        Comment(1, "harness-bot", ours("older"), ""),
        Comment(2, "mallory", ours("copied", "mallory"), ""),
        Comment(3, "harness-bot", ours("edited").replace("edited", "edited by a person"), ""),
        Comment(5, "harness-bot", ours("bisect", result_set=replace_what("bisect")), ""),
        Comment(6, "harness-bot", ours("crlf").replace("\n", "\r\n") + "  ", ""),
        Comment(7, "harness-bot", "> " + ours("quoted"), ""),
    ]
    assert [c.id for c in find_own_comments(comments, "harness-bot", MATRIX_SET)] == [1, 4, 6]
    assert find_own_comments(comments, "mallory", MATRIX_SET) == [comments[2]]


def replace_what(what: str) -> ResultSet:
    return ResultSet(what, MATRIX_SET.engines, MATRIX_SET.clis, MATRIX_SET.scenarios)


def test_a_marker_quoted_in_a_code_block_is_not_ours():
    for above in ("```sh\nx\n```sh", "~~~~\nold", "```\na\n```\n````\nb\n```"):
        body = ours(above)
        assert (
            find_own_comments([Comment(1, "harness-bot", body, "")], "harness-bot", MATRIX_SET)
            == []
        )
    indented = "text\n\n    " + ours("text").rsplit("\n", 1)[1]
    assert (
        find_own_comments([Comment(2, "harness-bot", indented, "")], "harness-bot", MATRIX_SET)
        == []
    )
    closed = ours("```sh\ncode\n```\ntable")
    assert find_own_comments([Comment(3, "harness-bot", closed, "")], "harness-bot", MATRIX_SET)


def test_an_unknown_login_matches_only_a_bot_that_signed_its_own_comment():
    bot = "cache-app[bot]"
    mine = Comment(1, bot, ours("table", bot), "", bot=True)
    person = Comment(2, "alice", ours("table", "alice"), "")
    forged = Comment(3, "other-app[bot]", ours("table", bot), "", bot=True)
    unsigned = Comment(4, bot, signed("table", MATRIX_SET, None), "", bot=True)
    assert find_own_comments([mine, person, forged, unsigned], None, MATRIX_SET) == [mine]
    assert find_own_comments([person], "alice", MATRIX_SET) == [person]  # alice's own token
    assert find_own_comments([forged], "other-app[bot]", MATRIX_SET) == []
    assert find_own_comments([unsigned], bot, MATRIX_SET) == [unsigned]
    assert signed("t", MATRIX_SET, "not a login") == signed("t", MATRIX_SET, None)


# -- CLI against the fake server -------------------------------------------------------------


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub(tokens={TOKEN: "harness-bot"}, issues={(REPO, ISSUE)})
    with fake:
        yield fake


def write_results(
    directory: Path, cells: list[CellResult] = SAMPLE_CELLS, bisect: BisectReport | None = None
) -> Path:
    """Only the JSON files: publish renders from the typed results, no .md is needed."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "matrix.json").write_text(json.dumps(matrix_document(cells).to_json()))
    if bisect is not None:
        (directory / "bisect.json").write_text(json.dumps(bisect.to_json()))
    return directory


class CliInfo_:
    """Runs the CLI with a fake clock and sleep, capturing output for token checks."""

    def __init__(self, capsys: pytest.CaptureFixture[str], github: FakeGitHub, results: Path):
        self.capsys, self.github, self.results = capsys, github, results
        self.slept: list[float] = []
        self.outputs: list[str] = []

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
        argv = ["--repo", REPO, "--issue", str(ISSUE), "--results", str(self.results)]
        argv += ["--api-url", self.github.url, *args]
        code = run(
            argv,
            env={"GITHUB_TOKEN": TOKEN} if env is None else env,
            sleep=self.slept.append,
            clock=lambda: 1_700_000_000.0,
        )
        out, err = self.capsys.readouterr()
        self.outputs += [out, err]
        return code, out, err


@pytest.fixture
def cli(capsys, github: FakeGitHub, tmp_path: Path) -> Iterator[CliInfo_]:
    runner = CliInfo_(capsys, github, write_results(tmp_path / "results"))
    yield runner
    assert all(TOKEN not in output for output in runner.outputs)


def harness_comments(github: FakeGitHub, login: str = "harness-bot") -> list[Any]:
    return [
        c
        for c in github.comments(REPO, ISSUE)
        if c.login == login and c.body.rsplit("\n", 1)[-1].startswith(MARKER_START)
    ]


def url_of(github: FakeGitHub, comment_id: int) -> str:
    return f"{github.origin}/{REPO}/issues/{ISSUE}#issuecomment-{comment_id}"


def test_two_runs_leave_one_comment_updated_in_place_with_the_current_table(cli, github):
    github.add_comment(REPO, ISSUE, "alice", "I see this too")
    code, out, err = cli()
    assert (code, err) == (0, "")
    (first,) = harness_comments(github)
    assert out == f"created {url_of(github, first.id)}\n"
    assert "| 1.29.2 (SDK 3.7.3)     | ✅ shared" in first.body
    assert first.body.rsplit("\n", 1)[1].startswith(
        f"{MARKER_START}{MATRIX_SET.key} by=harness-bot"
    )

    write_results(cli.results, cells=[*SAMPLE_CELLS[:-1], cell("1.29.2", "diverged", 3)])
    code, out, _ = cli()
    assert (code, out) == (0, f"updated {url_of(github, first.id)}\n")
    (second,) = harness_comments(github)
    assert "| 1.29.2 (SDK 3.7.3)     | ❌ step 3" in second.body
    assert "✅ shared" not in second.body.split("| 1.29.2")[1].split("\n")[0]
    assert len(github.comments(REPO, ISSUE)) == 2  # alice's and ours
    assert [r.method for r in github.requests if r.method != "GET"] == ["POST", "PATCH"]
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in github.requests)


def test_two_result_sets_on_one_issue_keep_a_comment_each(cli, github, tmp_path):
    cli_28 = cli.results
    cli_20 = write_results(
        tmp_path / "cli-20",
        cells=[
            cell(c.compose, "diverged", 3, cli=CliInfo("docker", "20.10.24")) for c in SAMPLE_CELLS
        ],
    )
    for results in (cli_28, cli_20, cli_28, cli_20):
        cli.results = results
        assert cli()[0] == 0
    first, second = harness_comments(github)
    assert "with the docker CLI 28.2.2" in first.body
    assert "| 1.29.2 (SDK 3.7.3)     | ✅ shared" in first.body
    assert "with the docker CLI 20.10.24 " in second.body
    assert "| 1.29.2 (SDK 3.7.3)     | ❌ step 3" in second.body
    assert [r.method for r in github.requests if r.method != "GET"] == [
        "POST",
        "POST",
        "PATCH",
        "PATCH",
    ]


def test_a_comment_whose_digest_fails_is_never_edited_or_removed(cli, github):
    edited = ours("my own words, and then I edited the table").replace("my own", "MY OWN")
    person = github.add_comment(REPO, ISSUE, "harness-bot", edited)
    code, out, _ = cli()
    assert code == 0 and out.startswith("created ")
    assert github.seen("PATCH") == [] and github.seen("DELETE") == []
    assert github.comments(REPO, ISSUE)[0].id == person
    assert github.comments(REPO, ISSUE)[0].body == edited


def test_finds_own_comment_on_a_later_page_and_never_touches_other_users(cli, github):
    github.page_size = 2
    for i in range(3):
        github.add_comment(REPO, ISSUE, f"user{i}", "+1")
    own = github.add_comment(REPO, ISSUE, "harness-bot", ours("stale table"))
    mallory = github.add_comment(REPO, ISSUE, "mallory", ours("stale table"))
    code, _, _ = cli()
    assert code == 0
    pages = [r.query.get("page") for r in github.seen("GET", f"/repos/{REPO}/issues/5/comments")]
    assert pages == [None, "2", "3"] * 2  # the run, then the check for duplicates
    assert [r.path for r in github.seen("PATCH")] == [f"/repos/{REPO}/issues/comments/{own}"]
    assert github.seen("POST") == [] and github.seen("DELETE") == []
    bodies = {c.id: c.body for c in github.comments(REPO, ISSUE)}
    assert bodies[mallory] == ours("stale table")
    assert "✅ shared" in bodies[own]


def test_another_run_posting_first_leaves_one_comment_the_oldest(cli, github):
    def racing_run(fake: FakeGitHub) -> None:
        fake.add_comment(REPO, ISSUE, "harness-bot", ours("the other run's table"))

    github.before["POST"] = racing_run
    code, out, err = cli()
    (kept,) = harness_comments(github)
    assert (code, out) == (0, f"updated {url_of(github, kept.id)}\n")
    assert "✅ shared" in kept.body and "the other run's table" not in kept.body
    assert len(github.seen("DELETE")) == 1 and f"a duplicate of {kept.id}" in err


def test_two_runs_at_once_end_with_one_comment(capsys, github, tmp_path):
    results = write_results(tmp_path / "results")
    argv = [
        "--repo",
        REPO,
        "--issue",
        str(ISSUE),
        "--results",
        str(results),
        "--api-url",
        github.url,
    ]
    codes: list[int] = []
    runs = [
        threading.Thread(target=lambda: codes.append(run(argv, env={"GITHUB_TOKEN": TOKEN})))
        for _ in range(2)
    ]
    for thread in runs:
        thread.start()
    for thread in runs:
        thread.join(timeout=60)
    assert codes == [0, 0]
    assert len(harness_comments(github)) == 1


def test_a_post_stored_late_in_listings_is_removed_after_posting_again(cli, github):
    path = f"/repos/{REPO}/issues/{ISSUE}/comments"
    github.listing_lag = 1  # the stored POST is not listed when the retry looks for it
    github.script("POST", path, 502, {}, {"message": "Bad Gateway"}, how="apply-then-answer")
    code, out, err = cli()
    (kept,) = harness_comments(github)
    assert len(github.seen("POST", path)) == 2
    assert (code, out) == (0, f"updated {url_of(github, kept.id)}\n")
    assert kept.id == 1001 and "removed comment 1002, a duplicate of 1001" in err


def test_new_posts_anew_and_removes_the_older_comment(cli, github):
    assert cli()[0] == 0
    (old,) = harness_comments(github)
    code, out, _ = cli("--new")
    (new,) = harness_comments(github)
    assert code == 0 and new.id > old.id and out == f"created {url_of(github, new.id)}\n"
    assert [r.path for r in github.seen("DELETE")] == [f"/repos/{REPO}/issues/comments/{old.id}"]


def test_an_app_token_whose_signing_patch_failed_converges_on_the_next_run(cli, github):
    app = "cache-app[bot]"
    github.tokens[TOKEN] = app
    github.no_user.add(app)
    patch = f"/repos/{REPO}/issues/comments/1001"
    github.script("PATCH", patch, 500, {}, {"message": "Server Error"}, times=2)
    with stamina.set_testing(True, attempts=2):  # no backoff waits; the PATCH fails twice
        code, _, err = cli()
    assert code == 1 and "HTTP 500" in err
    (orphan,) = github.comments(REPO, ISSUE)
    assert orphan.id == 1001 and " by=" not in orphan.body.rsplit("\n", 1)[1]
    code, out, _ = cli()
    (kept,) = github.comments(REPO, ISSUE)
    assert (code, out) == (0, f"updated {url_of(github, 1001)}\n")
    assert kept.id == 1001 and f" by={app} " in kept.body.rsplit("\n", 1)[1]


def test_an_app_token_that_cannot_read_user_finds_its_comment_again(cli, github):
    app = "cache-app[bot]"
    github.tokens[TOKEN] = app
    github.no_user.add(app)
    github.add_comment(REPO, ISSUE, "alice", f"my notes\n```\n{ours('x', app)}\n```")
    for _ in range(2):
        code, _, err = cli()
        assert code == 0, err
    (mine,) = harness_comments(github, app)
    assert f" by={app} " in mine.body.rsplit("\n", 1)[1]
    assert github.comments(REPO, ISSUE)[0].body.startswith("my notes")  # alice's untouched
    assert github.seen("DELETE") == []


def test_secondary_rate_limit_on_post_waits_and_posts_once(cli, github):
    github.script(
        "POST",
        f"/repos/{REPO}/issues/{ISSUE}/comments",
        403,
        {"Retry-After": "1"},
        {"message": "You have exceeded a secondary rate limit."},
    )
    code, _, err = cli()
    assert code == 0
    assert cli.slept == [1.0]
    assert err.count("\n") == 1 and "waiting 1 s" in err
    assert len(github.seen("POST")) == 2
    assert len(harness_comments(github)) == 1


def test_oversized_results_are_cut_so_github_accepts_them(cli, github):
    cells = [failed(f"1.{i}.0", f"reason {i} " + "·" * 60) for i in range(1_500)]
    write_results(cli.results, cells=cells)
    code, _, err = cli()
    assert code == 0, err
    assert err.startswith("note: body shortened") and err.count("\n") == 1
    (comment,) = harness_comments(github)
    assert len(comment.body) <= BODY_LIMIT
    assert "more rows cut" in comment.body and "| 1.0.0 " in comment.body


def test_wrong_token_fails_with_one_clear_line(cli, github):
    wrong = "ghp_wrongwrongwrong_SECRET"
    code, out, err = cli(env={"GITHUB_TOKEN": wrong})
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: GitHub rejected the token (401")
    assert "Traceback" not in err and wrong not in err
    assert github.seen("POST") == [] and github.seen("PATCH") == []


@pytest.mark.parametrize(
    ("issue", "expected"),
    [("404", "error: not found while reading"), ("410", "error: gone while reading")],
)
def test_missing_or_deleted_issue(cli, github, issue, expected):
    github.gone.add((REPO, 410))
    argv = ["--repo", REPO, "--issue", issue, "--results", str(cli.results)]
    code = run([*argv, "--api-url", github.url], env={"GITHUB_TOKEN": TOKEN})
    _, err = cli.capsys.readouterr()
    assert code == 1 and err.startswith(expected) and err.count("\n") == 1
    assert github.seen("POST") == []


def test_no_permission(cli, github):
    github.tokens["ro"] = "reader"
    github.read_only.add("reader")
    code, _, err = cli(env={"GH_TOKEN": "ro"})
    assert code == 1 and err.startswith("error: no permission for commenting") and "403" in err


def test_dry_run_needs_no_repo_issue_or_markdown_and_sends_nothing(capsys, github, tmp_path):
    results = write_results(tmp_path / "results")
    assert sorted(p.name for p in results.iterdir()) == ["matrix.json"]
    code = run(["--results", str(results), "--dry-run"], env={})
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    assert out.startswith(f"{HEADING}\n\n{MEASURED}\n")
    assert "| 1.29.2 (SDK 3.7.3)     | ✅ shared" in out
    assert out.rstrip("\n").rsplit("\n", 1)[1].startswith(f"{MARKER_START}{MATRIX_SET.key} sha256=")
    assert github.requests == []


def test_api_url_from_environment_and_gh_token_fallback(capsys, github, tmp_path):
    results = write_results(tmp_path / "r")
    env = {"GH_TOKEN": TOKEN, "GITHUB_API_URL": github.url}
    argv = ["--repo", REPO, "--issue", str(ISSUE), "--results", str(results)]
    assert run(argv, env=env) == 0
    assert len(harness_comments(github)) == 1
    out, err = capsys.readouterr()
    assert TOKEN not in out + err


def test_unreachable_api_is_one_line(capsys, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = ["--repo", REPO, "--issue", "5", "--results", str(write_results(tmp_path))]
    code = run([*argv, "--api-url", f"http://127.0.0.1:{port}"], env={"GITHUB_TOKEN": TOKEN})
    out, err = capsys.readouterr()
    assert code == 1 and out == "" and err.startswith("error: cannot reach")
    assert err.count("\n") == 1 and TOKEN not in err


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        (["--repo", "widgets"], {"GITHUB_TOKEN": TOKEN}, "error: --repo must look like"),
        (["--repo", "a/b/c"], {"GITHUB_TOKEN": TOKEN}, "error: --repo must look like"),
        (["--repo", "acme/widgets\n"], {"GITHUB_TOKEN": TOKEN}, "error: --repo must look like"),
        (
            ["--api-url", "http://user:pw@127.0.0.1:1/api"],
            {"GITHUB_TOKEN": TOKEN},
            "error: the API URL must not hold a user or password",
        ),
        (["--issue", "0"], {"GITHUB_TOKEN": TOKEN}, "error: --issue must be a positive"),
        (["--issue", "12a"], {"GITHUB_TOKEN": TOKEN}, "error: --issue must be a positive"),
        (["--issue", "9" * 5000], {"GITHUB_TOKEN": TOKEN}, "(5000 characters)"),
        (["--issue", "4294967296"], {"GITHUB_TOKEN": TOKEN}, "error: --issue must be a positive"),
        ([], {}, "error: no token: set GITHUB_TOKEN or GH_TOKEN"),
        ([], {"GITHUB_TOKEN": "  "}, "error: no token"),
        ([], {"GITHUB_TOKEN": "two words"}, "error: GITHUB_TOKEN holds characters"),
        (["--api-url", "ftp://x"], {"GITHUB_TOKEN": TOKEN}, "error: the API URL must be"),
        (["--what", "bisect"], {"GITHUB_TOKEN": TOKEN}, "bisect.json not found; run `nox -s"),
        (["--what", "nope"], {"GITHUB_TOKEN": TOKEN}, "nox -s publish --: error: argument --what"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, github, tmp_path, argv, env, expected):
    results = write_results(tmp_path / "results")
    base = ["--repo", REPO, "--issue", "5", "--results", str(results), "--api-url", github.url]
    code = run([*base, *argv], env=env)
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and expected in err and len(err) < 300
    assert github.requests == []


def test_a_dry_run_still_checks_what_was_typed(capsys, tmp_path):
    argv = ["--results", str(write_results(tmp_path)), "--dry-run", "--issue", "9" * 5000]
    assert run(argv, env={}) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: --issue must be a positive issue number, got '999")


def test_a_headline_line_names_ten_runs_at_most(capsys):
    cells = [cell(f"1.{i}.0", "shared" if i % 2 else "diverged", 3) for i in range(25)]
    (line,) = matrix_headline(cells)
    assert line.startswith("cli_build=default: compose 1.0.0 misses the cache at step 3")
    assert line.endswith(", 1.9.0 shares it, and 15 more runs of versions (see the table)")


@pytest.mark.parametrize("missing", ["--repo", "--issue"])
def test_repo_and_issue_are_required_to_post(capsys, tmp_path, missing):
    argv = {"--repo": REPO, "--issue": "5"}
    del argv[missing]
    flat = [part for pair in argv.items() for part in pair]
    code = run([*flat, "--results", str(write_results(tmp_path))], env={"GITHUB_TOKEN": TOKEN})
    _, err = capsys.readouterr()
    assert code == 2 and err == f"error: {missing} is required (or use --dry-run)\n"


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("matrix.json", None, "matrix.json not found; run `nox -s matrix` first"),
        ("matrix.json", "{not json", "matrix.json is not valid JSON"),
        ("matrix.json", "[" * 100_000 + "]" * 100_000, "matrix.json is not a results file: nested"),
        ("matrix.json", '{"schema": 1, "cells": [' + "[" * 5_000 + "]" * 5_000 + "]}", "deeply"),
        ("matrix.json", b"\xff\xfe{}", "matrix.json: not UTF-8"),
        ("matrix.json", '{"schema": 2, "cells": []}', "expected a JSON object with schema 1"),
        ("matrix.json", '{"schema": 1, "cells": [1]}', "cell 1: a cell result must be"),
        ("matrix.json", '{"schema": 1, "config": "\\ud800", "cells": []}', "matrix.json: config:"),
        ("bisect.json", '{"candidates": 3}', "bisect.json: "),
        (
            "matrix.json",
            json.dumps({"schema": 1, "reproduce": "x" * 70_000, "cells": []}),
            "cannot publish these results: a budget of",
        ),
    ],
)
def test_missing_or_broken_results_files(capsys, tmp_path, name, content, expected):
    results = write_results(tmp_path / "results", bisect=bisect_doc())
    if content is None:
        (results / name).unlink()
    elif isinstance(content, bytes):
        (results / name).write_bytes(content)
    else:
        (results / name).write_text(content)
    what = "bisect" if name.startswith("bisect") else "matrix"
    code = run(["--results", str(results), "--dry-run", "--what", what], env={})
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and expected in err, err


def test_a_results_file_nested_too_deeply_for_python_is_one_line(capsys, tmp_path):
    results = write_results(tmp_path / "results")
    deep = '{"schema": 1, "cells": [{"compose": ' + "[" * 50_000 + "]" * 50_000 + "}]}"
    (results / "matrix.json").write_text(deep)
    code = run(["--results", str(results), "--dry-run"], env={})
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "matrix.json" in err and "Traceback" not in err


def test_a_bisect_file_of_the_wrong_shape_names_the_field(capsys, tmp_path):
    results = write_results(tmp_path / "results", bisect=bisect_doc())
    data = json.loads((results / "bisect.json").read_text())
    data["candidates"] = 3
    (results / "bisect.json").write_text(json.dumps(data))
    argv = ["--results", str(results), "--dry-run", "--what", "bisect"]
    assert run(argv, env={}) == 2
    _, err = capsys.readouterr()
    assert err.count("\n") == 1 and "bisect.json: field 'candidates' must be a list" in err
    data["candidates"] = []
    data["probes"] = [data["probes"][0], 7]
    (results / "bisect.json").write_text(json.dumps(data))
    assert run(argv, env={}) == 2
    _, err = capsys.readouterr()
    assert err.count("\n") == 1 and "bisect.json: probe 2: must be an object" in err


def test_all_needs_bisect_and_uses_its_headline(capsys, tmp_path):
    results = write_results(tmp_path / "results", bisect=bisect_doc())
    code = run(["--results", str(results), "--what", "all", "--dry-run"], env={})
    out, _ = capsys.readouterr()
    assert code == 0
    measured = MEASURED.replace("(scenario add-file)", "(scenarios add-file, seed)")
    assert out.startswith(f"{HEADING}\n\n{measured}\n\n{FIRST_CHANGE}\n")
    assert "<!-- cache-bisect-harness:publish:all set=" in out.rstrip("\n").rsplit("\n", 1)[1]


def test_main_help_names_the_nox_command(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GH_TOKEN", raising=False)
    assert main(["--help"]) == 0
    out, _ = capsys.readouterr()
    assert out.startswith("usage: nox -s publish --")
    assert "--dry-run" in out and "GITHUB_API_URL" in out and "GH_TOKEN" in out
    assert (
        harness_main(["publish", "--repo", REPO, "--issue", "5", "--results", str(tmp_path)]) == 2
    )
    _, err = capsys.readouterr()
    assert err == f"error: {tmp_path}/matrix.json not found; run `nox -s matrix` first\n"


def test_a_dry_run_read_by_head_ends_quietly(tmp_path):
    results = write_results(tmp_path / "results")
    child = subprocess.Popen(
        [sys.executable, "-m", "harness", "publish", "--results", str(results), "--dry-run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()  # the reader is gone before the body is written, as `| head -0`
    err = child.stderr.read().decode()
    assert child.wait(timeout=60) == 0
    assert err == ""


# -- retries, identity, and what reaches the terminal -------------------------------------


def test_a_502_on_post_that_github_stored_leaves_one_comment(cli, github):
    path = f"/repos/{REPO}/issues/{ISSUE}/comments"
    github.script("POST", path, 502, {}, {"message": "Bad Gateway"}, how="apply-then-answer")
    code, out, err = cli()
    assert code == 0 and out.startswith("created ")
    assert "HTTP 502" in err and "retrying" in err and err.count("\n") == 1
    assert len(harness_comments(github)) == 1 and len(github.seen("POST", path)) == 1


def test_our_comment_deleted_before_the_patch_is_posted_anew(cli, github):
    own = github.add_comment(REPO, ISSUE, "harness-bot", ours("stale"))
    github.before["PATCH"] = lambda fake: fake.remove_comment(own)
    code, out, err = cli()
    (posted,) = harness_comments(github)
    assert (code, out) == (0, f"created {url_of(github, posted.id)}\n")
    assert err == f"note: comment {own} was deleted meanwhile; posting a new one\n"
    assert len(github.seen("POST")) == 1


def test_every_printed_line_is_scrubbed_and_free_of_control_and_bidi_characters(cli, github):
    github.script(
        "GET",
        f"/repos/{REPO}/issues/{ISSUE}",
        418,
        {},
        {"message": f"\r\x1b[2Kall good {TOKEN} \u202egnp.exe\u2028"},
    )
    code, out, err = cli()
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "\r" not in err and "\x1b" not in err
    assert "\u202e" not in err and "\\u202e" in err and "\u2028" not in err
    assert TOKEN not in err and "***" in err


def test_notices_of_retries_do_not_print_the_token(cli, github):
    github.script("GET", "/user", 503, {}, {"message": f"busy {TOKEN}"})
    code, _, err = cli()
    assert code == 0 and "HTTP 503" in err and TOKEN not in err


def test_a_corrupt_gzip_answer_is_one_line(cli, github):
    garbage = gzip.compress(b'{"login": "harness-bot"}')[:12] + b"\x00not gzip at all"
    github.script("GET", "/user", 200, {"Content-Encoding": "gzip"}, garbage, how="raw")
    code, out, err = cli()
    assert code == 1 and out == "" and err.count("\n") == 1
    assert err.startswith("error: GitHub's answer while looking up the token's user could not")


def test_an_answer_nested_too_deeply_is_one_line(cli, github):
    nested = b"[" * 200_000 + b"]" * 200_000
    github.script("GET", f"/repos/{REPO}/issues/{ISSUE}/comments", 200, {}, nested, how="raw")
    code, out, err = cli()
    assert code == 1 and out == "" and err.count("\n") == 1
    assert err.startswith("error: unexpected non-JSON answer from GET") and "Traceback" not in err


def test_an_answer_that_never_ends_is_read_no_further_than_the_cap(cli, github):
    github.script("GET", "/user", 200, {}, b"[" + b" " * 65_535, how="endless")
    code, out, err = cli()
    assert code == 1 and out == "" and err.count("\n") == 1
    assert (
        err == "error: GitHub's answer while looking up the token's user is larger than "
        "32 MiB; stopped reading it\n"
    )
    assert github.endless_sent < 64 * 2**20  # it stopped reading, and the server noticed
