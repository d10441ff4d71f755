"""GitHubClient against a real local HTTP server that behaves like GitHub."""

from __future__ import annotations

import logging
import socket
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
        **kw,  # type: ignore[arg-type]
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
    github.script("GET", "/user", 500, {}, {"message": f"oops {TOKEN}"})
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
