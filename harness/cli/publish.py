"""`nox -s publish -- ...`: put the current result tables on a GitHub issue.

One comment per issue and kind (matrix / bisect / all), found again by its hidden last-line
marker, which records the author that posted it, and edited in place, so repeated runs don't
spam the issue; a person's comment is never edited. Every failure is one line on stderr: 2
for bad input, 1 when GitHub says no. Every line printed goes through one function that
removes the token and control characters.
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
from typing import Any, NoReturn

import httpx

from harness import __version__
from harness.core.model import ResultFormatError
from harness.core.report import BisectReport, MatrixDocument
from harness.core.text import printable
from harness.edges.github import PUBLIC_API_URL, GitHubClient, GitHubError
from harness.present.publish import WHATS, Body, Results, compose_body, find_own_comment, signed

__all__ = ["build_parser", "main", "run"]

PROG = "nox -s publish --"
TOKEN_VARIABLES = ("GITHUB_TOKEN", "GH_TOKEN")
_SECRET_MIN = 8  # real tokens are 40+ characters; scrubbing "ro" would garble "error"
_REPO = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/(?!\.\.?\Z)[A-Za-z0-9._-]{1,100}")
_NEEDS = {
    "matrix": ("matrix.json", "matrix.md"),
    "bisect": ("bisect.json", "bisect.md"),
    "all": ("bisect.json", "matrix.json", "matrix.md"),
}
_PRODUCER = {"matrix": "nox -s matrix", "bisect": "nox -s bisect -- LOW HIGH"}


class UsageError(Exception):
    """Bad arguments or inputs: reported in one line, exit status 2."""


class _Output:
    """The one place publish prints: secrets become ``***``, control characters are shown
    escaped, so no line can leak the token or rewrite the terminal."""

    def __init__(self) -> None:
        self.secrets: list[str] = []

    def _clean(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def say(self, message: str) -> None:
        """One line on stderr."""
        print(printable(self._clean(message)), file=sys.stderr, flush=True)

    def show(self, text: str) -> None:
        """Text for stdout, its line breaks kept."""
        print(printable(self._clean(text), keep_newlines=True), flush=True)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description=(
            "Publish the harness's result tables as a comment on a GitHub issue. The "
            "comment ends with a hidden marker that records who posted it; later runs edit "
            "that same comment in place (a person's comment is never edited)."
        ),
        epilog=(
            "The token is read from GITHUB_TOKEN, else GH_TOKEN (it needs permission to "
            "comment on issues). The API base is --api-url, else GITHUB_API_URL, else the "
            "public GitHub API; for GitHub Enterprise Server use https://HOST/api/v3. "
            "Exit status: 0 done, 1 GitHub refused or could not be reached, 2 bad input."
        ),
    )
    parser.add_argument("--repo", required=True, metavar="OWNER/NAME", help="target repository")
    parser.add_argument("--issue", required=True, metavar="N", help="issue (or PR) number")
    parser.add_argument(
        "--results",
        default="results",
        metavar="DIR",
        type=Path,
        help="directory with matrix.json/.md and bisect.json/.md (default: results)",
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
        help="print the exact markdown body and send nothing (no token needed)",
    )
    parser.add_argument(
        "--new", action="store_true", help="always post a new comment instead of editing"
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
    """``main`` with its environment injectable, so tests need no real waits or network."""
    env = os.environ if env is None else env
    out = _Output()
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help, or a usage error already reported in one line
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        repo, issue = _check_repo(args.repo), _check_issue(args.issue)
        body = compose_body(args.what, _load(args.results, args.what), version=__version__)
        if body.cuts:
            out.say(f"note: body shortened to fit GitHub's limit; cut: {'; '.join(body.cuts)}")
        if args.dry_run:
            out.show(body.text)
            return 0
        token = _token(env)
        if len(token) >= _SECRET_MIN:
            out.secrets.append(token)
        api_url = _api_url(args.api_url or env.get("GITHUB_API_URL") or PUBLIC_API_URL)
    except UsageError as error:
        out.say(f"error: {error}")
        return 2
    try:
        with GitHubClient(
            token, api_url, transport=transport, sleep=sleep, clock=clock, notify=out.say
        ) as gh:
            verb, url = _publish(gh, repo, issue, args.what, body, new=args.new, out=out)
    except GitHubError as error:
        out.say(f"error: {error}")
        return 1
    out.show(f"{verb} {url}")
    return 0


def _publish(
    gh: GitHubClient,
    repo: str,
    issue: int,
    what: str,
    body: Body,
    *,
    new: bool,
    out: _Output,
) -> tuple[str, str]:
    gh.check_issue(repo, issue)
    login = _login(gh)
    comments = list(gh.issue_comments(repo, issue))
    if not new:
        own = find_own_comment(comments, login, what)
        if own is not None:
            try:
                text = signed(body.text, what, own.login)
                return "updated", gh.update_comment(repo, own.id, text).html_url
            except GitHubError as error:
                if error.status != 404:
                    raise
                out.say(f"note: comment {own.id} was deleted meanwhile; posting a new one")
    text = signed(body.text, what, login)
    created = gh.create_comment(repo, issue, text, known={c.id for c in comments})
    if login is None:  # record who posted it, so that later runs know the comment is ours
        created = gh.update_comment(repo, created.id, signed(body.text, what, created.login))
    return "created", created.html_url


def _login(gh: GitHubClient) -> str | None:
    """The token's login, or None for a token that may not read /user (an app's, Actions')."""
    try:
        return gh.authenticated_login()
    except GitHubError as error:
        if error.status == 403:
            return None
        raise


def _check_repo(repo: str) -> str:
    if not _REPO.fullmatch(repo):
        raise UsageError(f"--repo must look like OWNER/NAME, got {repo!r}")
    return repo


def _check_issue(issue: str) -> int:
    if not issue.isascii() or not issue.isdigit() or int(issue) < 1:
        raise UsageError(f"--issue must be a positive issue number, got {issue!r}")
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
    texts = {}
    for name in _NEEDS[what]:
        path = directory / name
        try:
            texts[name] = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            kind = name.split(".")[0]
            raise UsageError(f"{path} not found; run `{_PRODUCER[kind]}` first") from None
        except (OSError, UnicodeDecodeError) as error:
            raise UsageError(f"cannot read {path}: {error}") from None
    return Results(
        matrix=_document(directory / "matrix.json", texts.get("matrix.json")),
        matrix_md=texts.get("matrix.md"),
        bisect=_document(directory / "bisect.json", texts.get("bisect.json")),
        bisect_md=texts.get("bisect.md"),
    )


def _document(path: Path, text: str | None) -> Any:
    if text is None:
        return None
    try:
        data = json.loads(text)
    except ValueError as error:
        raise UsageError(f"{path} is not valid JSON: {error}") from None
    where = _surrogate(data)
    if where is not None:
        raise UsageError(f"{path}: {where or 'a key'}: holds a lone surrogate (not valid Unicode)")
    reader = MatrixDocument if path.name == "matrix.json" else BisectReport
    try:
        return reader.from_json(data)
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
