"""Publishing: headlines and body assembly (pure), and the CLI against a local fake GitHub."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ghfake import BODY_LIMIT, FakeGitHub
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import __version__
from harness.cli.publish import main, run
from harness.core.model import CellResult
from harness.core.report import BisectReport, MatrixDocument
from harness.edges.github import Comment
from harness.present.publish import (
    GITHUB_COMMENT_LIMIT,
    HEADING,
    RANGE_DASH,
    Results,
    bisect_headline,
    compose_body,
    find_own_comment,
    github_length,
    marker,
    matrix_headline,
    signed,
)
from tests.factories import bisect_report, cell_result

TOKEN = "ghp_publishTOKEN_0123456789_SECRET"
REPO = "octo/widgets"
ISSUE = 5
D = RANGE_DASH  # en dash between a run's first and last version
LONG_ADD = "ADD blah.txt notes.txt /srv/app/data/"
FIRST_CHANGE = "**First change: docker-compose 1.21.0 → 1.21.1 (diverged at step 3 → shared)**"


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
    assert flaky[1] == "Unsteady probes: 1.21.0 (flaky (diverged@3 2/3) 2/3)"
    failed = bisect_headline(bisect_report(lambda compose, sdk, run: "error"))
    assert failed[0].startswith("Bisect failed")


# -- body -----------------------------------------------------------------------------------

LEGEND = "**Legend:** shared = both builds reuse each other's layers; diverged = cache miss."


def table(rows: list[tuple[str, str]]) -> str:
    lines = ["| compose | verdict |", "|---|---|"]
    return "\n".join(lines + [f"| {compose} | {verdict} |" for compose, verdict in rows])


def matrix_md(rows: list[tuple[str, str]], environment: str = "engine 24.0.7") -> str:
    details = f"<details><summary>Environment</summary>\n\n{environment}\n\n</details>"
    return f"{LEGEND}\n\n{table(rows)}\n\n{details}\n"


SAMPLE_CELLS = [
    cell("1.19.0", "diverged", 3),
    cell("1.24.1", "diverged", 3),
    cell("1.25.5", "shared"),
    cell("1.29.2", "shared"),
]
SAMPLE_ROWS = [(c.compose, str(c.verdict)) for c in SAMPLE_CELLS]


def sample_results(**changes: Any) -> Results:
    fields: dict[str, Any] = {
        "matrix": matrix_document(SAMPLE_CELLS),
        "matrix_md": matrix_md(SAMPLE_ROWS),
        "bisect": bisect_doc(),
        "bisect_md": "## Bisect\n\n| version | verdict |\n|---|---|\n| 1.21.0 | diverged |\n",
    }
    fields.update(changes)
    return Results(**fields)


def test_body_parts_come_in_order_with_the_marker_last():
    body = compose_body("matrix", sample_results(), version="9.9.9")
    text = body.text
    order = [
        f"- cli_build=default: compose 1.19.0{D}1.24.1 miss the cache",
        LEGEND,
        "| 1.29.2 | shared |",
        "<details><summary>Environment</summary>",
        "nox -s matrix",
        "cache-bisect-harness 9.9.9",
        marker("matrix"),
    ]
    positions = [text.index(part) for part in order]
    assert positions == sorted(positions)
    assert text.startswith(f"{HEADING}\n\n- cli_build=default:")
    assert text.endswith(marker("matrix"))
    assert body.cuts == ()
    assert "First change" not in text


def test_bisect_and_all_bodies():
    bisect = compose_body("bisect", sample_results(), version=__version__).text
    first_change = "**First change: docker-compose 1.21.0 → 1.21.1 (diverged at step 3 → shared)**"
    assert bisect.startswith(f"{HEADING}\n\n{first_change}")
    assert "## Bisect" in bisect and "nox -s repro -- --compose 1.21.1" in bisect
    assert LEGEND not in bisect and bisect.endswith(marker("bisect"))

    both = compose_body("all", sample_results(), version=__version__).text
    assert both.index("First change") < both.index("- cli_build=default") < both.index(LEGEND)
    assert "## Bisect" not in both
    assert "nox -s repro -- --compose 1.21.1\nnox -s matrix" in both
    assert both.endswith(marker("all"))


def test_oversized_body_drops_details_first_and_keeps_the_table():
    big = matrix_md(SAMPLE_ROWS, environment="x" * 80_000)
    body = compose_body("matrix", sample_results(matrix_md=big), version="1")
    assert github_length(body.text) <= GITHUB_COMMENT_LIMIT
    assert body.cuts == ("1 collapsed section",)
    assert "x" * 100 not in body.text
    assert "_(Environment: cut to fit the comment size limit)_" in body.text
    assert all(f"| {compose} | {verdict} |" in body.text for compose, verdict in SAMPLE_ROWS)
    assert "cut: 1 collapsed section" in body.text
    assert body.text.endswith(marker("matrix"))


def test_oversized_table_loses_rows_from_the_end_and_says_how_many():
    rows = [(f"1.{i}.0", "shared" + " " * 40) for i in range(3_000)]
    body = compose_body("matrix", sample_results(matrix_md=matrix_md(rows)), version="1")
    text = body.text
    assert github_length(text) <= GITHUB_COMMENT_LIMIT
    kept = [i for i in range(3_000) if f"| 1.{i}.0 |" in text]
    assert kept == list(range(len(kept))) and 0 < len(kept) < 3_000
    cut = 3_000 - len(kept)
    assert f"_… {cut} more rows cut to fit the comment size limit._" in text
    assert body.cuts == ("1 collapsed section", f"{cut} table rows")
    assert LEGEND in text and text.endswith(marker("matrix"))
    # The cut is minimal: one more row would not have fitted.
    assert github_length(text) > GITHUB_COMMENT_LIMIT - 2 * len("| 1.2999.0 | shared |" + " " * 40)


@settings(max_examples=60, deadline=None)
@given(
    headline_cells=st.integers(min_value=0, max_value=400),
    report=st.text(min_size=0, max_size=3_000),
    repeat=st.integers(min_value=1, max_value=40),
    limit=st.integers(min_value=1_024, max_value=20_000),
    what=st.sampled_from(["matrix", "all"]),
)
def test_any_body_fits_and_ends_with_the_marker(headline_cells, report, repeat, limit, what):
    cells = [
        cell(f"1.{i}.0", "diverged" if i % 2 else "shared", (i % 7) + 1)
        for i in range(headline_cells)
    ]
    results = sample_results(matrix=matrix_document(cells), matrix_md=report * repeat)
    body = compose_body(what, results, version="1", limit=limit)
    longest = "a" * 39 + "[bot]"  # the marker is signed later with the author's login
    assert github_length(signed(body.text, what, longest)) <= limit
    assert body.text.endswith(marker(what))
    uncut = compose_body(what, results, version="1", limit=10**9)
    assert uncut.cuts == ()
    if body.cuts:
        assert github_length(signed(uncut.text, what, longest)) > limit
    else:
        assert body.text == uncut.text


def test_github_length_never_undercounts():
    text = "a\n→😀"
    assert github_length(text) >= len(text)
    assert github_length(text) >= len(text.encode("utf-16-le")) // 2
    assert github_length(text) >= len(text.encode("utf-8"))


def test_find_own_comment_needs_both_login_and_marker_line():
    mark = marker("matrix")
    comments = [
        Comment(1, "harness-bot", f"old\n{mark}", ""),
        Comment(2, "mallory", f"copied\n{mark}", ""),
        Comment(3, "harness-bot", f"> quoted\n> {mark}", ""),
        Comment(4, "harness-bot", f"newer\n{mark}", ""),
        Comment(5, "harness-bot", f"bisect\n{marker('bisect')}", ""),
        Comment(6, "mallory", f"latest\n{mark}", ""),
    ]
    own = find_own_comment(comments, "harness-bot", "matrix")
    assert own is not None and own.id == 4
    assert find_own_comment(comments[1:3], "harness-bot", "matrix") is None


def test_only_a_trailing_marker_outside_code_blocks_matches():
    mark = marker("matrix", "harness-bot")
    quoted = [
        f"my table:\n```\n{mark}\n",  # an unclosed block runs to the end
        f"see\n~~~~\nold\n{mark}",
        f"{mark}\nand then I said",  # not the last line
        f"indented:\n    {mark}",  # an indented code block
    ]
    for number, body in enumerate(quoted):
        assert (
            find_own_comment([Comment(number, "harness-bot", body, "")], "harness-bot", "matrix")
            is None
        ), body
    fenced_before = f"```\ncode\n```\ntable\n{mark}\n"
    assert find_own_comment([Comment(9, "harness-bot", fenced_before, "")], "harness-bot", "matrix")


def test_an_unknown_login_matches_only_a_bot_that_signed_its_own_comment():
    bot = "cache-app[bot]"
    ours = Comment(1, bot, f"table\n{marker('matrix', bot)}", "", bot=True)
    person = Comment(2, "alice", f"table\n{marker('matrix', 'alice')}", "")
    forged = Comment(3, "other-app[bot]", f"table\n{marker('matrix', bot)}", "", bot=True)
    unsigned = Comment(4, bot, f"table\n{marker('matrix')}", "", bot=True)
    assert find_own_comment([ours, person, forged, unsigned], None, "matrix") is ours
    assert find_own_comment([person], None, "matrix") is None
    assert find_own_comment([person], "alice", "matrix") is person  # a token of alice's own
    assert find_own_comment([forged], "other-app[bot]", "matrix") is None


def test_signing_replaces_the_last_line_and_keeps_the_body_within_the_limit():
    body = compose_body("matrix", sample_results(), version="9.9.9", limit=2_000)
    text = signed(body.text, "matrix", "a" * 39 + "[bot]")
    assert text.endswith(marker("matrix", "a" * 39 + "[bot]")) and github_length(text) <= 2_000
    assert signed(body.text, "matrix", "not a login") == body.text
    assert signed(body.text, "matrix", None) == body.text


# -- CLI against the fake server -------------------------------------------------------------


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub(tokens={TOKEN: "harness-bot"}, issues={(REPO, ISSUE)})
    with fake:
        yield fake


def write_results(
    directory: Path,
    cells: list[CellResult] = SAMPLE_CELLS,
    markdown: str | None = None,
    bisect: BisectReport | None = None,
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    rows = [(c.compose, str(c.verdict)) for c in cells]
    (directory / "matrix.json").write_text(json.dumps(matrix_document(cells).to_json()))
    (directory / "matrix.md").write_text(markdown or matrix_md(rows), encoding="utf-8")
    if bisect is not None:
        (directory / "bisect.json").write_text(json.dumps(bisect.to_json()))
        (directory / "bisect.md").write_text("## Bisect report\n", encoding="utf-8")
    return directory


class CliInfo:
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
def cli(capsys, github: FakeGitHub, tmp_path: Path) -> Iterator[CliInfo]:
    runner = CliInfo(capsys, github, write_results(tmp_path / "results"))
    yield runner
    assert all(TOKEN not in output for output in runner.outputs)


def harness_comments(github: FakeGitHub) -> list[Any]:
    return [
        c
        for c in github.comments(REPO, ISSUE)
        if c.login == "harness-bot" and c.body.endswith(marker("matrix", "harness-bot"))
    ]


def test_two_runs_leave_one_comment_updated_in_place_with_the_current_table(cli, github):
    github.add_comment(REPO, ISSUE, "alice", "I see this too")
    code, out, err = cli()
    assert (code, err) == (0, "")
    (first,) = harness_comments(github)
    assert out == f"created {github.origin}/{REPO}/issues/{ISSUE}#issuecomment-{first.id}\n"
    assert "| 1.29.2 | shared |" in first.body

    rows = [*SAMPLE_ROWS[:-1], ("1.29.2", "diverged")]
    write_results(cli.results, markdown=matrix_md(rows))
    code, out, _ = cli()
    assert code == 0 and out.startswith("updated ")
    (second,) = harness_comments(github)
    assert second.id == first.id
    assert "| 1.29.2 | diverged |" in second.body and "| 1.29.2 | shared |" not in second.body
    assert len(github.comments(REPO, ISSUE)) == 2  # alice's and ours
    assert [r.method for r in github.requests if r.method != "GET"] == ["POST", "PATCH"]
    (patch,) = github.seen("PATCH")
    assert patch.path == f"/repos/{REPO}/issues/comments/{first.id}"
    assert patch.body == {"body": second.body}
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in github.requests)


def test_finds_own_comment_on_a_later_page_and_never_touches_other_users(cli, github):
    github.page_size = 2
    mark = marker("matrix")
    for i in range(3):
        github.add_comment(REPO, ISSUE, f"user{i}", "+1")
    own = github.add_comment(REPO, ISSUE, "harness-bot", f"stale table\n{mark}")
    mallory = github.add_comment(REPO, ISSUE, "mallory", f"gotcha\n{mark}")  # newer, not ours
    code, _, _ = cli()
    assert code == 0
    pages = [r.query.get("page") for r in github.seen("GET", f"/repos/{REPO}/issues/5/comments")]
    assert pages == [None, "2", "3"]
    assert [r.path for r in github.seen("PATCH")] == [f"/repos/{REPO}/issues/comments/{own}"]
    assert github.seen("POST") == []
    bodies = {c.id: c.body for c in github.comments(REPO, ISSUE)}
    assert bodies[mallory] == f"gotcha\n{mark}"
    assert "| 1.29.2 | shared |" in bodies[own]


def test_new_forces_a_second_comment(cli, github):
    assert cli()[0] == 0
    assert cli("--new")[0] == 0
    assert len(harness_comments(github)) == 2
    assert github.seen("PATCH") == []


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
    rows = [(f"1.{i}.0", "shared" + "·" * 30) for i in range(4_000)]
    write_results(cli.results, markdown=matrix_md(rows, environment="e" * 70_000))
    code, _, err = cli()
    assert code == 0
    assert err.startswith("note: body shortened") and err.count("\n") == 1
    (comment,) = harness_comments(github)
    assert len(comment.body) <= BODY_LIMIT
    assert "more rows cut" in comment.body and "| 1.0.0 |" in comment.body


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


def test_dry_run_prints_the_exact_body_and_sends_nothing(cli, github):
    code, out, err = cli("--dry-run", env={})
    assert code == 0 and err == ""
    expected = compose_body(
        "matrix",
        Results(
            matrix=matrix_document(SAMPLE_CELLS),
            matrix_md=(cli.results / "matrix.md").read_text(encoding="utf-8"),
        ),
        version=__version__,
    )
    assert out == expected.text + "\n"
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
    assert err.count("\n") == 1 and expected in err
    assert github.requests == []


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("matrix.md", None, "matrix.md not found; run `nox -s matrix` first"),
        ("matrix.json", None, "matrix.json not found"),
        ("matrix.json", "{not json", "matrix.json is not valid JSON"),
        ("matrix.json", '{"schema": 2, "cells": []}', "expected a JSON object with schema 1"),
        ("matrix.json", '{"schema": 1, "cells": [1]}', "cell 1: a cell result must be"),
        ("matrix.json", '{"schema": 1, "config": "\\ud800", "cells": []}', "matrix.json: config:"),
        ("bisect.json", '{"candidates": 3}', "bisect.json: "),
    ],
)
def test_missing_or_broken_results_files(capsys, tmp_path, name, content, expected):
    results = write_results(tmp_path / "results", bisect=bisect_doc())
    if content is None:
        (results / name).unlink()
    else:
        (results / name).write_text(content)
    what = "bisect" if name.startswith("bisect") else "matrix"
    argv = ["--repo", REPO, "--issue", "5", "--results", str(results), "--dry-run"]
    code = run([*argv, "--what", what], env={})
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and expected in err


def test_a_bisect_file_of_the_wrong_shape_names_the_field(capsys, tmp_path):
    results = write_results(tmp_path / "results", bisect=bisect_doc())
    data = json.loads((results / "bisect.json").read_text())
    data["candidates"] = 3
    (results / "bisect.json").write_text(json.dumps(data))
    argv = ["--repo", REPO, "--issue", "5", "--results", str(results), "--dry-run"]
    code = run([*argv, "--what", "bisect"], env={})
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1
    assert "bisect.json: field 'candidates' must be a list" in err
    data["candidates"] = []
    data["probes"] = [data["probes"][0], 7]
    (results / "bisect.json").write_text(json.dumps(data))
    assert run([*argv, "--what", "bisect"], env={}) == 2
    _, err = capsys.readouterr()
    assert err.count("\n") == 1 and "bisect.json: probe 2: must be an object" in err


def test_all_needs_bisect_and_uses_its_headline(capsys, tmp_path):
    results = write_results(tmp_path / "results", bisect=bisect_doc())
    code = run(["--repo", REPO, "--issue", "5", "--results", str(results), "--what", "all",
                "--dry-run"], env={})  # fmt: skip
    out, _ = capsys.readouterr()
    assert code == 0
    assert out.startswith(
        f"{HEADING}\n\n**First change: docker-compose 1.21.0 → 1.21.1 (diverged at step 3 → "
        "shared)**"
    )
    assert out.rstrip("\n").endswith(marker("all"))


def test_main_help_names_the_nox_command(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GH_TOKEN", raising=False)
    assert main(["--help"]) == 0
    out, _ = capsys.readouterr()
    assert out.startswith("usage: nox -s publish --")
    assert "--dry-run" in out and "GITHUB_API_URL" in out and "GH_TOKEN" in out
    assert main(["--repo", REPO, "--issue", "5", "--results", str(tmp_path)]) == 2


# -- retries, identity, and what reaches the terminal -------------------------------------


def test_a_502_on_post_that_github_stored_leaves_one_comment(cli, github):
    path = f"/repos/{REPO}/issues/{ISSUE}/comments"
    github.script("POST", path, 502, {}, {"message": "Bad Gateway"}, how="apply-then-answer")
    code, out, err = cli()
    assert code == 0 and out.startswith("created ")
    assert "HTTP 502" in err and "retrying" in err and err.count("\n") == 1
    assert len(harness_comments(github)) == 1 and len(github.seen("POST", path)) == 1


def test_an_app_token_that_cannot_read_user_finds_its_comment_again(cli, github):
    app = "cache-app[bot]"
    github.tokens[TOKEN] = app
    github.no_user.add(app)
    github.add_comment(REPO, ISSUE, "alice", f"my notes\n```\n{marker('matrix', app)}\n```")
    for _ in range(2):
        code, _, err = cli()
        assert code == 0, err
    ours = [c for c in github.comments(REPO, ISSUE) if c.login == app]
    assert len(ours) == 1
    assert ours[0].body.endswith(marker("matrix", app))
    assert github.comments(REPO, ISSUE)[0].body.startswith("my notes")  # alice's untouched


def test_a_person_quoting_the_marker_in_a_code_block_is_never_edited(cli, github):
    mark = marker("matrix", "harness-bot")
    quoted = github.add_comment(REPO, ISSUE, "harness-bot", f"look:\n```\n{mark}\n```")
    code, out, _ = cli()
    assert code == 0 and out.startswith("created ")
    assert github.seen("PATCH") == []
    assert github.comments(REPO, ISSUE)[0].id == quoted


def test_our_comment_deleted_before_the_patch_is_posted_anew(cli, github):
    own = github.add_comment(REPO, ISSUE, "harness-bot", f"stale\n{marker('matrix')}")
    github.script(
        "PATCH", f"/repos/{REPO}/issues/comments/{own}", 404, {}, {"message": "Not Found"}
    )
    code, out, err = cli()
    assert code == 0 and out.startswith("created "), err
    assert "deleted meanwhile" in err and err.count("\n") == 1
    assert len(github.seen("POST")) == 1


def test_every_printed_line_is_scrubbed_and_free_of_control_characters(cli, github):
    github.script(
        "GET",
        f"/repos/{REPO}/issues/{ISSUE}",
        418,
        {},
        {"message": f"\r\x1b[2Kall good {TOKEN}"},
    )
    code, out, err = cli()
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "\r" not in err and "\x1b" not in err
    assert TOKEN not in err and "***" in err


def test_notices_of_retries_do_not_print_the_token(cli, github):
    github.script("GET", "/user", 503, {}, {"message": f"busy {TOKEN}"})
    code, _, err = cli()
    assert code == 0 and "HTTP 503" in err and TOKEN not in err
