"""`nox -s publish -- ...`: put the current results on a GitHub issue.

One comment per issue and result set (what is published, and the engines, CLIs and scenarios
it was measured with), found again by its hidden last-line marker, which records the author
and a digest of the text above it, and edited in place, so repeated runs don't spam the issue.
After posting, the comments are listed again and duplicates that races left are removed (the
oldest stays). A comment whose digest does not match (a person's, or one a person edited) is
never edited or removed. Every failure is a harness error, one line from ``python -m
harness``: 2 for bad input, 1 when GitHub says no (the client scrubs the token from its
messages). Notes and the body go through one function that removes the token and control
characters.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from harness import __version__
from harness.cli.options import OneLineParser
from harness.core.errors import UserError
from harness.core.model import ResultFormatError
from harness.core.report import BisectReport, MatrixDocument
from harness.core.text import printable
from harness.edges.github import PUBLIC_API_URL, Comment, GitHubClient, GitHubError
from harness.edges.paths import redact
from harness.present.comment_marker import find_own_comments, signed
from harness.present.publish import WHATS, Body, Results, compose_body

__all__ = ["build_parser", "main", "run"]

PROG = "nox -s publish --"
TOKEN_VARIABLES = ("GITHUB_TOKEN", "GH_TOKEN")
_SECRET_MIN = 8  # real tokens are 40+ characters; scrubbing "ro" would garble "error"
_REPO = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/(?!\.\.?\Z)[A-Za-z0-9._-]{1,100}")
_ISSUE = re.compile(r"[1-9][0-9]{0,9}")  # GitHub's numbers are 32-bit; no 5000-digit int()
_MAX_RESULTS_BYTES = 64 * 1024 * 1024  # far above any real results file; /dev/zero stops here
_NEEDS = {
    "matrix": ("matrix.json",),
    "bisect": ("bisect.json",),
    "all": ("bisect.json", "matrix.json"),
}
_PRODUCER = {"matrix": "nox -s matrix", "bisect": "nox -s bisect -- LOW HIGH"}


class UsageError(UserError):
    """Bad arguments or inputs, one printable line (a path or value typed may hold control
    characters); ``python -m harness`` reports it with exit status 2."""

    def __init__(self, message: str) -> None:
        super().__init__(printable(message))


class _Output:
    """The one place publish prints: secrets become ``***``, control and bidi characters
    are shown escaped, so no line can leak the token or rewrite the terminal. A reader
    that stops early (``| head``) ends the output quietly."""

    def __init__(self) -> None:
        self.secrets: list[str] = []

    def _clean(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def say(self, message: str) -> None:
        """One line on stderr."""
        self._print(printable(self._clean(message)), sys.stderr)

    def show(self, text: str) -> None:
        """Text for stdout, its line breaks kept."""
        self._print(printable(self._clean(text), keep_newlines=True), sys.stdout)

    @staticmethod
    def _print(text: str, stream: Any) -> None:
        try:
            print(text, file=stream, flush=True)
        except BrokenPipeError:
            # Python would report the failed flush again at exit; point the stream at
            # /dev/null so it has nothing left to flush.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
            os.close(devnull)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog=PROG,
        description=(
            "Publish the harness's results as a comment on a GitHub issue, rendered from "
            "the results' JSON. The comment ends with a hidden marker naming its result set "
            "(what, engines, CLIs, scenarios), who posted it and a digest of its text; later "
            "runs edit that same comment in place and remove duplicates a race left (a "
            "comment whose digest does not match is never edited or removed)."
        ),
        epilog=(
            "The token is read from GITHUB_TOKEN, else GH_TOKEN (it needs permission to "
            "comment on issues). The API base is --api-url, else GITHUB_API_URL, else the "
            "public GitHub API; for GitHub Enterprise Server use https://HOST/api/v3. "
            "Exit status: 0 done, 1 GitHub refused or could not be reached, 2 bad input."
        ),
    )
    parser.add_argument(
        "--repo", metavar="OWNER/NAME", help="target repository (not needed with --dry-run)"
    )
    parser.add_argument(
        "--issue", metavar="N", help="issue (or PR) number (not needed with --dry-run)"
    )
    parser.add_argument(
        "--results",
        default="results",
        metavar="DIR",
        type=Path,
        help="directory with matrix.json and/or bisect.json (default: results)",
    )
    parser.add_argument(
        "--what",
        choices=WHATS,
        default="matrix",
        help="matrix table, bisect report, or bisect headline plus matrix (default: matrix)",
    )
    parser.add_argument("--api-url", metavar="URL", help="GitHub REST API base URL")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the exact markdown body and send nothing (no token, repo or issue needed)",
    )
    parser.add_argument(
        "--new",
        action="store_true",
        help=(
            "post the comment anew at the end of the thread; the harness's earlier comment "
            "for this result set is removed"
        ),
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    return run(argv)


def run(
    argv: list[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> int:
    """``main`` with its environment injectable, so tests need no real waits or network.

    Bad input raises ``UsageError``, GitHub's refusal ``GitHubError``: both are harness
    errors, reported as one line by ``python -m harness`` (exit status 2 and 1).
    """
    env = os.environ if env is None else env
    out = _Output()
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help, or a usage error already reported in one line
        return exit_.code if isinstance(exit_.code, int) else 2
    # A dry run posts nothing and needs neither; what was typed is checked all the same.
    repo = None if args.repo is None and args.dry_run else _check_repo(args.repo)
    issue = None if args.issue is None and args.dry_run else _check_issue(args.issue)
    body = _body(args.what, _load(args.results, args.what))
    if body.cuts:
        out.say(f"note: body shortened to fit GitHub's limit; cut: {'; '.join(body.cuts)}")
    if args.dry_run or repo is None or issue is None:
        out.show(signed(body.text, body.result_set, None))
        return 0
    token = _token(env)
    if len(token) >= _SECRET_MIN:
        out.secrets.append(token)
    api_url = _api_url(args.api_url or env.get("GITHUB_API_URL") or PUBLIC_API_URL)
    with GitHubClient(
        token, api_url, transport=transport, sleep=sleep, clock=clock, notify=out.say
    ) as gh:
        verb, url = _publish(gh, repo, issue, body, new=args.new, out=out)
    out.show(f"{verb} {url}")
    return 0


def _body(what: str, results: Results) -> Body:
    try:
        return compose_body(what, results, version=__version__)
    except ValueError as error:  # e.g. a reproduce line no comment can hold
        raise UsageError(f"cannot publish these results: {error}") from None


def _publish(
    gh: GitHubClient, repo: str, issue: int, body: Body, *, new: bool, out: _Output
) -> tuple[str, str]:
    """Edit our comment for this result set (or post one), then converge to one comment."""
    gh.check_issue(repo, issue)
    login = _login(gh)
    own = find_own_comments(gh.issue_comments(repo, issue), login, body.result_set)
    posted: Comment | None = None
    if own and not new:
        try:
            posted = gh.update_comment(
                repo, own[0].id, signed(body.text, body.result_set, own[0].login)
            )
            verb = "updated"
        except GitHubError as error:
            if error.status != 404:
                raise
            out.say(f"note: comment {own[0].id} was deleted meanwhile; posting a new one")
    if posted is None:
        text = signed(body.text, body.result_set, login)
        posted = gh.create_comment(repo, issue, text, known={c.id for c in own})
        verb = "created"
        if login is None:  # record who posted it, so that later runs know the comment is ours
            posted = gh.update_comment(
                repo, posted.id, signed(body.text, body.result_set, posted.login)
            )
    kept = _converge(gh, repo, issue, body, posted, keep_newest=new, out=out)
    return (verb if kept.id == posted.id else "updated"), kept.html_url


def _converge(
    gh: GitHubClient,
    repo: str,
    issue: int,
    body: Body,
    posted: Comment,
    *,
    keep_newest: bool,
    out: _Output,
) -> Comment:
    """List again and leave one comment of ours for this result set: the oldest (a race
    of two runs, a POST stored late) or, with --new, the one just posted. The kept one
    gets this run's text; the others are removed."""
    ours = find_own_comments(gh.issue_comments(repo, issue), posted.login, body.result_set)
    if not ours:  # a listing that does not show our comment yet: nothing to converge
        return posted
    kept = posted if keep_newest else ours[0]
    if kept.id != posted.id:
        kept = gh.update_comment(repo, kept.id, signed(body.text, body.result_set, kept.login))
    duplicates = {comment.id for comment in ours} | {posted.id}  # ours may list late
    for duplicate in sorted(duplicates - {kept.id}):
        gh.delete_comment(repo, duplicate)
        out.say(f"note: removed comment {duplicate}, a duplicate of {kept.id}")
    return kept


def _login(gh: GitHubClient) -> str | None:
    """The token's login, or None for a token that may not read /user (an app's, Actions')."""
    try:
        return gh.authenticated_login()
    except GitHubError as error:
        if error.status == 403:
            return None
        raise


def _check_repo(repo: str | None) -> str:
    if repo is None:
        raise UsageError("--repo is required (or use --dry-run)")
    if not _REPO.fullmatch(repo):
        raise UsageError(f"--repo must look like OWNER/NAME, got {repo!r}")
    return repo


def _check_issue(issue: str | None) -> int:
    if issue is None:
        raise UsageError("--issue is required (or use --dry-run)")
    if not _ISSUE.fullmatch(issue) or int(issue) > 2**31 - 1:
        shown = issue if len(issue) <= 20 else f"{issue[:20]}… ({len(issue)} characters)"
        raise UsageError(f"--issue must be a positive issue number, got {shown!r}")
    return int(issue)


def _token(env: Mapping[str, str]) -> str:
    for name in TOKEN_VARIABLES:
        token = env.get(name, "").strip()
        if token:
            if not token.isascii() or not token.isprintable() or " " in token:
                raise UsageError(f"{name} holds characters that cannot be sent in a header")
            return token
    raise UsageError("no token: set GITHUB_TOKEN or GH_TOKEN (or use --dry-run)")


def _api_url(url: str) -> str:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise UsageError(f"the API URL must be an http(s) URL, got {printable(url)!r}")
    if parsed.userinfo:
        raise UsageError(
            "the API URL must not hold a user or password (the token comes from "
            "GITHUB_TOKEN or GH_TOKEN only)"
        )
    return url.rstrip("/")


def _load(directory: Path, what: str) -> Results:
    documents: dict[str, Any] = {}
    for name in _NEEDS[what]:
        documents[name] = _document(directory / name)
    return Results(matrix=documents.get("matrix.json"), bisect=documents.get("bisect.json"))


def _read(path: Path) -> str:
    try:
        with path.open("rb") as file:
            data = file.read(_MAX_RESULTS_BYTES + 1)
    except FileNotFoundError:
        kind = path.name.split(".")[0]
        raise UsageError(f"{path} not found; run `{_PRODUCER[kind]}` first") from None
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror or error}") from None
    if len(data) > _MAX_RESULTS_BYTES:
        raise UsageError(f"{path} is larger than {_MAX_RESULTS_BYTES // 2**20} MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UsageError(f"cannot read {path}: not UTF-8 ({error.reason})") from None


def _document(path: Path) -> MatrixDocument | BisectReport:
    reader = MatrixDocument if path.name == "matrix.json" else BisectReport
    try:
        try:
            data = json.loads(redact(_read(path)))
        except ValueError as error:
            raise UsageError(f"{path} is not valid JSON: {error}") from None
        where = _surrogate(data)
        if where is not None:
            raise UsageError(
                f"{path}: {where or 'a key'}: holds a lone surrogate (not valid Unicode)"
            )
        return reader.from_json(data)
    except RecursionError:
        raise UsageError(f"{path} is not a results file: nested too deeply") from None
    except ResultFormatError as error:
        raise UsageError(f"{path}: {error}") from None


def _surrogate(data: Any, where: str = "") -> str | None:
    """The field (e.g. ``cells[2].compose``) holding a lone surrogate, which JSON allows as
    an escape but no text encoding can carry; None if there is none."""
    if isinstance(data, str):
        return where if any("\ud800" <= char <= "\udfff" for char in data) else None
    if isinstance(data, list):
        for index, item in enumerate(data):
            found = _surrogate(item, f"{where}[{index}]")
            if found is not None:
                return found
    if isinstance(data, dict):
        for key, value in data.items():
            field = f"{where}.{key}" if where else str(key)
            if _surrogate(key) is not None:
                return where or "a key"
            found = _surrogate(value, field)
            if found is not None:
                return found
    return None
