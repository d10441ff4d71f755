"""GitHubClient against a real local HTTP server that behaves like GitHub."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator

import pytest
from ghfake import BODY_LIMIT, FakeGitHub

from harness import __version__
from harness.edges.github import API_VERSION, GitHubClient, GitHubError, rate_limit_wait

TOKEN = "ghp_fakeTOKEN0123456789abcdefSECRET"
REPO = "octo/widgets"
NOW = 1_700_000_000.0


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub(tokens={TOKEN: "harness-bot"}, issues={(REPO, 7)})
    with fake:
        yield fake


class Waits:
    """Records requested sleeps and notices instead of waiting."""

    def __init__(self) -> None:
        self.slept: list[float] = []
        self.notices: list[str] = []


@pytest.fixture
def waits() -> Waits:
    return Waits()


def client(github: FakeGitHub, waits: Waits, token: str = TOKEN, **kw: float) -> GitHubClient:
    return GitHubClient(
        token,
        github.url,
        sleep=waits.slept.append,
        clock=lambda: NOW,
        notify=waits.notices.append,
        **{"retry_first_wait": 0.01, "retry_max_wait": 0.05, **kw},  # type: ignore[arg-type]
    )


def test_sends_github_headers_under_the_enterprise_base_path(github: FakeGitHub, waits: Waits):
    with client(github, waits) as gh:
        assert gh.authenticated_login() == "harness-bot"
    (request,) = github.requests
    assert request.path == "/user"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["accept"] == "application/vnd.github+json"
    assert request.headers["x-github-api-version"] == API_VERSION == "2022-11-28"
    assert request.headers["user-agent"] == f"cache-bisect-harness/{__version__}"


def test_follows_link_pagination_over_all_pages(github: FakeGitHub, waits: Waits):
    github.page_size = 2
    ids = [github.add_comment(REPO, 7, f"user{i}", f"comment {i}") for i in range(5)]
    with client(github, waits) as gh:
        comments = list(gh.issue_comments(REPO, 7))
    assert [c.id for c in comments] == ids
    assert [c.body for c in comments] == [f"comment {i}" for i in range(5)]
    listed = github.seen("GET", f"/repos/{REPO}/issues/7/comments")
    assert [r.query.get("page") for r in listed] == [None, "2", "3"]
    assert listed[0].query["per_page"] == "100"
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in listed)


def test_refuses_pagination_links_to_another_host(github: FakeGitHub, waits: Waits):
    github.page_size = 1
    github.link_base = github.url.replace("127.0.0.1", "localhost")
    for i in range(3):
        github.add_comment(REPO, 7, "someone", f"c{i}")
    with client(github, waits) as gh, pytest.raises(GitHubError, match="off the API host"):
        list(gh.issue_comments(REPO, 7))
    assert len(github.requests) == 1
    assert not any(r.headers["host"].startswith("localhost") for r in github.requests)


def test_secondary_rate_limit_retry_after_waits_then_retries(github: FakeGitHub, waits: Waits):
    path = f"/repos/{REPO}/issues/7/comments"
    github.script(
        "POST",
        path,
        403,
        {"Retry-After": "1"},
        {"message": "You have exceeded a secondary rate limit. Please wait a few minutes."},
    )
    with client(github, waits) as gh:
        comment = gh.create_comment(REPO, 7, "hello")
    assert waits.slept == [1.0]
    assert len(waits.notices) == 1 and "waiting 1 s before retry 1/3" in waits.notices[0]
    assert [r.body for r in github.seen("POST", path)] == [{"body": "hello"}] * 2
    assert [c.body for c in github.comments(REPO, 7)] == ["hello"]
    assert comment.id == github.comments(REPO, 7)[0].id


def test_primary_rate_limit_waits_until_reset(github: FakeGitHub, waits: Waits):
    github.script(
        "GET",
        "/user",
        403,
        {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 5)},
        {"message": "API rate limit exceeded"},
    )
    with client(github, waits) as gh:
        assert gh.authenticated_login() == "harness-bot"
    assert waits.slept == [6.0]  # until reset, plus a second for clock skew
    assert len(github.seen("GET", "/user")) == 2


def test_429_with_retry_after_is_retried(github: FakeGitHub, waits: Waits):
    github.script("GET", "/user", 429, {"Retry-After": "2"}, {"message": "Too Many Requests"})
    with client(github, waits) as gh:
        assert gh.authenticated_login() == "harness-bot"
    assert waits.slept == [2.0]


def test_rate_limit_asking_for_too_long_a_wait_fails_without_sleeping(
    github: FakeGitHub, waits: Waits
):
    github.script(
        "GET",
        "/user",
        403,
        {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 3600)},
        {"message": "API rate limit exceeded"},
    )
    with client(github, waits) as gh, pytest.raises(GitHubError, match="try again later") as err:
        gh.authenticated_login()
    assert waits.slept == []
    assert err.value.status == 403
    assert len(github.requests) == 1


def test_rate_limit_retries_are_bounded(github: FakeGitHub, waits: Waits):
    for _ in range(4):
        github.script("GET", "/user", 403, {"Retry-After": "1"}, {"message": "slow down"})
    with client(github, waits) as gh, pytest.raises(GitHubError, match="after 3 retries"):
        gh.authenticated_login()
    assert waits.slept == [1.0, 1.0, 1.0]
    assert len(github.seen("GET", "/user")) == 4


def test_plain_403_is_a_permission_error_not_a_rate_limit(github: FakeGitHub, waits: Waits):
    github.tokens["ro-token"] = "reader"
    github.read_only.add("reader")
    with client(github, waits, token="ro-token") as gh, pytest.raises(GitHubError) as err:
        gh.create_comment(REPO, 7, "hi")
    assert err.value.status == 403
    assert "no permission" in str(err.value) and "\n" not in str(err.value)
    assert waits.slept == []
    assert len(github.requests) == 1


def test_bad_token_is_one_clear_line_without_the_token(github: FakeGitHub, waits: Waits):
    wrong = "ghp_wrongTOKENwrongTOKEN"
    with client(github, waits, token=wrong) as gh, pytest.raises(GitHubError) as err:
        gh.authenticated_login()
    message = str(err.value)
    assert err.value.status == 401
    assert "401" in message and "Bad credentials" in message and "GITHUB_TOKEN" in message
    assert "\n" not in message and wrong not in message and wrong not in repr(err.value)


@pytest.mark.parametrize(
    ("issue", "status", "words"),
    [(8, 404, "not found"), (9, 410, "gone")],
)
def test_missing_and_deleted_issues(
    github: FakeGitHub, waits: Waits, issue: int, status: int, words: str
):
    github.gone.add((REPO, 9))
    with client(github, waits) as gh, pytest.raises(GitHubError) as err:
        gh.check_issue(REPO, issue)
    assert err.value.status == status
    assert words in str(err.value) and f"{REPO}#{issue}" in str(err.value)


def test_too_long_body_is_a_422_with_githubs_reason(github: FakeGitHub, waits: Waits):
    with client(github, waits) as gh, pytest.raises(GitHubError) as err:
        gh.create_comment(REPO, 7, "x" * (BODY_LIMIT + 1))
    assert err.value.status == 422
    assert "body is too long" in str(err.value)
    assert github.comments(REPO, 7) == []


def test_patch_updates_in_place(github: FakeGitHub, waits: Waits):
    comment_id = github.add_comment(REPO, 7, "harness-bot", "old")
    with client(github, waits) as gh:
        updated = gh.update_comment(REPO, comment_id, "new")
    assert updated.id == comment_id and updated.body == "new"
    (patch,) = github.seen("PATCH", f"/repos/{REPO}/issues/comments/{comment_id}")
    assert patch.body == {"body": "new"}
    assert [c.body for c in github.comments(REPO, 7)] == ["new"]


def test_connection_error_is_one_line_without_the_token(waits: Waits):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gh = GitHubClient(TOKEN, f"http://127.0.0.1:{port}/api/v3", sleep=waits.slept.append)
    with gh, pytest.raises(GitHubError, match="cannot reach") as err:
        gh.authenticated_login()
    assert err.value.status is None
    assert "\n" not in str(err.value) and TOKEN not in str(err.value)
    assert err.value.__cause__ is None


def test_token_never_reaches_logs(github: FakeGitHub, waits: Waits, caplog):
    caplog.set_level(logging.DEBUG)
    github.script("GET", "/user", 403, {"Retry-After": "1"}, {"message": "rate limit"})
    with client(github, waits) as gh:
        gh.authenticated_login()
        gh.create_comment(REPO, 7, "hi")
    assert caplog.records, "httpx/httpcore should have logged something at DEBUG"
    assert TOKEN not in caplog.text
    assert all(TOKEN not in notice for notice in waits.notices)


@pytest.mark.parametrize("token", ["abc\ndef", "bad token", "tökén", ""])
def test_unsendable_tokens_are_refused_without_echoing_them(token: str):
    with pytest.raises(GitHubError, match="cannot be sent") as err:
        GitHubClient(token, "http://127.0.0.1:9/")
    assert not token or token not in str(err.value)


def test_error_messages_scrub_a_token_echoed_by_the_server(github: FakeGitHub, waits: Waits):
    github.script("GET", "/user", 500, {}, {"message": f"oops {TOKEN}"}, times=99)
    with client(github, waits) as gh, pytest.raises(GitHubError) as err:
        gh.authenticated_login()
    assert TOKEN not in str(err.value) and "***" in str(err.value)


@pytest.mark.parametrize(
    ("status", "headers", "message", "expected"),
    [
        (200, {"retry-after": "5"}, "", None),
        (403, {}, "Must have admin rights", None),
        (403, {"retry-after": "7"}, "", 7.0),
        (429, {"retry-after": "Tue, 14 Nov 2023 22:13:30 GMT"}, "", 10.0),
        (429, {"retry-after": "Tue, 14 Nov 2023 22:13:30 -0000"}, "", 10.0),
        (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) - 50)}, "", 1.0),
        (403, {"x-ratelimit-remaining": "12"}, "secondary rate limit", 60.0),
        (429, {}, "", 60.0),
    ],
)
def test_rate_limit_wait(status, headers, message, expected):
    assert rate_limit_wait(status, headers, message, NOW + 0.0) == expected


def test_malformed_comment_list_is_one_clear_error(github: FakeGitHub, waits: Waits):
    github.script("GET", f"/repos/{REPO}/issues/7/comments", 200, {}, [{"body": "no id"}])
    with client(github, waits) as gh, pytest.raises(GitHubError, match="not a comment"):
        list(gh.issue_comments(REPO, 7))


# -- a flaky network and a struggling server ----------------------------------------------


@pytest.mark.parametrize(
    ("status", "how"), [(500, "answer"), (502, "answer"), (503, "answer"), (0, "reset")]
)
def test_transient_failures_of_a_get_are_retried(
    github: FakeGitHub, waits: Waits, status: int, how: str
):
    github.script("GET", "/user", status, {}, {"message": "try later"}, times=2, how=how)
    with client(github, waits) as gh:
        assert gh.authenticated_login() == "harness-bot"
    assert len(github.seen("GET", "/user")) == 3
    assert len(waits.notices) == 2 and all("retrying" in n for n in waits.notices)


def test_retries_end_with_one_line_naming_the_attempts(github: FakeGitHub, waits: Waits):
    github.script("GET", "/user", 502, {}, {"message": "Bad Gateway"}, times=99)
    with client(github, waits, retry_attempts=4) as gh, pytest.raises(GitHubError) as err:
        gh.authenticated_login()
    assert err.value.status == 502
    assert "HTTP 502" in str(err.value) and "gave up after 4 attempts" in str(err.value)
    assert "\n" not in str(err.value)
    assert len(github.seen("GET", "/user")) == 4


def test_retries_stop_at_the_overall_deadline(github: FakeGitHub, waits: Waits):
    github.script("GET", "/user", 503, {}, {"message": "busy"}, times=999)
    started = time.monotonic()
    with (
        client(github, waits, retry_attempts=1000, retry_seconds=0.5, retry_first_wait=0.05) as gh,
        pytest.raises(GitHubError, match="gave up after"),
    ):
        gh.authenticated_login()
    assert time.monotonic() - started < 3
    assert 2 <= len(github.seen("GET", "/user")) < 100


def test_a_patch_is_retried_after_a_reset(github: FakeGitHub, waits: Waits):
    comment_id = github.add_comment(REPO, 7, "harness-bot", "old")
    path = f"/repos/{REPO}/issues/comments/{comment_id}"
    github.script("PATCH", path, 0, how="reset")
    with client(github, waits) as gh:
        assert gh.update_comment(REPO, comment_id, "new").body == "new"
    assert len(github.seen("PATCH", path)) == 2


def test_a_post_that_was_stored_but_failed_is_not_posted_again(github: FakeGitHub, waits: Waits):
    path = f"/repos/{REPO}/issues/7/comments"
    github.script("POST", path, 502, {}, {"message": "Bad Gateway"}, how="apply-then-answer")
    with client(github, waits) as gh:
        comment = gh.create_comment(REPO, 7, "hello\n<!-- mark -->")
    assert [c.body for c in github.comments(REPO, 7)] == ["hello\n<!-- mark -->"]
    assert comment.id == github.comments(REPO, 7)[0].id
    assert len(github.seen("POST", path)) == 1
    assert len(github.seen("GET", path)) == 1  # listed again instead of posting again


def test_a_post_lost_on_a_reset_connection_is_posted_again_once(github: FakeGitHub, waits: Waits):
    path = f"/repos/{REPO}/issues/7/comments"
    old = github.add_comment(REPO, 7, "harness-bot", "hello")  # same text, an older comment
    github.script("POST", path, 0, how="reset")
    with client(github, waits) as gh:
        comment = gh.create_comment(REPO, 7, "hello", known={old})
    assert comment.id != old
    assert [c.body for c in github.comments(REPO, 7)] == ["hello", "hello"]
    assert len(github.seen("POST", path)) == 2


def test_a_post_stored_before_the_reset_is_found(github: FakeGitHub, waits: Waits):
    path = f"/repos/{REPO}/issues/7/comments"
    github.script("POST", path, 0, how="apply-then-reset")
    with client(github, waits) as gh:
        gh.create_comment(REPO, 7, "hello")
    assert [c.body for c in github.comments(REPO, 7)] == ["hello"]
    assert len(github.seen("POST", path)) == 1


def test_the_timeout_covers_the_whole_answer_not_each_read(github: FakeGitHub, waits: Waits):
    github.drip_seconds = 0.2  # each read is quick; the whole answer takes about 10 s
    github.script("GET", "/user", 200, {}, {"login": "x" * 40}, how="drip")
    started = time.monotonic()
    with client(github, waits, timeout=1.0) as gh:
        assert gh.authenticated_login() == "harness-bot"  # the retry got the normal answer
    assert time.monotonic() - started < 4
    assert len(github.seen("GET", "/user")) == 2
    assert "no full answer within 1 s" in waits.notices[0]


def test_the_timeout_covers_headers_dripped_byte_by_byte(github: FakeGitHub, waits: Waits):
    github.drip_seconds = 0.05  # each read is quick; the headers never end
    github.script("GET", "/user", 200, {}, {"login": "x"}, how="drip-headers")
    started = time.monotonic()
    with client(github, waits, timeout=1.0) as gh:
        assert gh.authenticated_login() == "harness-bot"
    assert time.monotonic() - started < 4
    assert len(github.seen("GET", "/user")) == 2
    assert "no full answer within 1 s" in waits.notices[0]


def test_unexpected_answers_scrub_the_token(github: FakeGitHub, waits: Waits):
    github.page_size = 1
    github.link_base = f"http://{TOKEN}@localhost:1/api/v3"
    for i in range(2):
        github.add_comment(REPO, 7, "someone", f"c{i}")
    with client(github, waits) as gh, pytest.raises(GitHubError) as err:
        list(gh.issue_comments(REPO, 7))
    assert "off the API host" in str(err.value) and TOKEN not in str(err.value)


def test_control_characters_from_the_server_are_not_printed(github: FakeGitHub, waits: Waits):
    github.script("GET", "/user", 418, {}, {"message": "bad\r\x1b[2Kerror: all fine"})
    with client(github, waits) as gh, pytest.raises(GitHubError) as err:
        gh.authenticated_login()
    assert "\r" not in str(err.value) and "\x1b" not in str(err.value)
    assert "\\x1b" in str(err.value)
