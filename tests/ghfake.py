"""A small GitHub REST look-alike on 127.0.0.1 for the publish tests.

It implements just the endpoints publishing uses, with GitHub's behaviour where it
matters: bearer-token auth (401 "Bad credentials"), ``Link`` pagination with a server-side
page size, comment authorship (PATCH of someone else's comment is 403), the 65,536
character body limit (422), 404/410 issues, app tokens that may not read ``/user`` (403) and
post as a user of type Bot, and canned responses (e.g. a secondary rate limit, a 502, a reset
connection, an answer dripped byte by byte, a POST that is stored but answered with an error,
raw bytes such as a corrupt gzip body, an answer that never ends) queued with ``script``;
DELETE of a comment; comments that appear in listings some listings late (as GitHub's
replicas may), and hooks that let another run act between two requests of a run. Every
request is recorded for assertions. It is served under an Enterprise-style path prefix so
base-path handling is exercised too.
"""

from __future__ import annotations

import json
import re
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

BODY_LIMIT = 65_536
Reply = tuple[int, dict[str, str], Any]  # status, headers, JSON payload

_ISSUE = re.compile(r"^/repos/([^/]+/[^/]+)/issues/(\d+)$")
_COMMENTS = re.compile(r"^/repos/([^/]+/[^/]+)/issues/(\d+)/comments$")
_COMMENT = re.compile(r"^/repos/([^/]+/[^/]+)/issues/comments/(\d+)$")


@dataclass(frozen=True)
class Recorded:
    """One request as the server saw it (path without the API prefix)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: Any


@dataclass
class StoredComment:
    id: int
    login: str
    body: str
    repo: str
    issue: int


@dataclass
class _Canned:
    method: str
    path: str
    status: int
    headers: dict[str, str]
    body: Any
    times: int = 1
    how: str = "answer"  # answer | reset | drip | drip-headers | raw | endless | apply-then-*


@dataclass
class FakeGitHub:
    """State plus a running server; use as a context manager."""

    prefix: str = "/api/v3"
    page_size: int = 30
    tokens: dict[str, str] = field(default_factory=dict)  # token -> login
    read_only: set[str] = field(default_factory=set)  # logins that may not comment
    issues: set[tuple[str, int]] = field(default_factory=set)
    gone: set[tuple[str, int]] = field(default_factory=set)
    link_base: str | None = None  # serve pagination links on another base (tests refusal)
    no_user: set[str] = field(default_factory=set)  # logins whose GET /user is 403 (app tokens)
    drip_seconds: float = 0.3  # pause between the bytes of a dripped answer
    listing_lag: int = 0  # a new comment shows in listings only this many listings later
    before: dict[str, Callable[[FakeGitHub], None]] = field(default_factory=dict)  # method ->
    # what happens once just before the next such request is served (another run's POST)
    endless_sent: int = 0  # bytes of an endless answer sent before the client hung up
    requests: list[Recorded] = field(default_factory=list)
    _comments: list[StoredComment] = field(default_factory=list)
    _canned: list[_Canned] = field(default_factory=list)
    _next_id: int = 1000
    _listings: int = 0
    _visible_from: dict[int, int] = field(default_factory=dict)  # comment id -> listing number
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> FakeGitHub:
        fake = self

        class Handler(_Handler):
            github = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def origin(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        """The API base URL to hand to the client."""
        return self.origin + self.prefix

    # -- setup and inspection ----------------------------------------------------------------

    def add_comment(self, repo: str, issue: int, login: str, body: str) -> int:
        with self._lock:
            self._next_id += 1
            self._comments.append(StoredComment(self._next_id, login, body, repo, issue))
            return self._next_id

    def remove_comment(self, comment_id: int) -> None:
        with self._lock:
            self._comments = [c for c in self._comments if c.id != comment_id]

    def comments(self, repo: str, issue: int) -> list[StoredComment]:
        with self._lock:
            return [c for c in self._comments if (c.repo, c.issue) == (repo, issue)]

    def script(
        self,
        method: str,
        path: str,
        status: int,
        headers: dict[str, str] | None = None,
        body: Any = None,
        *,
        times: int = 1,
        how: str = "answer",
    ) -> None:
        """Answer the next ``times`` ``method path`` requests with this response instead.

        ``how``: ``reset`` drops the connection unanswered, ``drip`` sends the answer a
        byte at a time, ``raw`` sends ``body`` (bytes) as it is with ``headers``,
        ``endless`` streams ``body`` (bytes) over and over until the client hangs up,
        ``apply-then-answer`` / ``apply-then-reset`` do what the request asks (e.g. store
        the comment) and then answer with this response / drop it.
        """
        self._canned.append(_Canned(method, path, status, headers or {}, body, times, how))

    def seen(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        return [
            r
            for r in self.requests
            if (method is None or r.method == method) and (path is None or r.path == path)
        ]

    # -- behaviour ---------------------------------------------------------------------------

    def handle(self, request: Recorded, prefixed: bool) -> tuple[Reply, str]:
        hook = self.before.pop(request.method, None)
        if hook is not None:
            hook(self)
        with self._lock:
            self.requests.append(request)
            if not prefixed:
                return (404, {}, {"message": "Not Found"}), "answer"
            login = self._login(request.headers.get("authorization", ""))
            for canned in self._canned:
                if (canned.method, canned.path) == (request.method, request.path):
                    canned.times -= 1
                    if canned.times <= 0:
                        self._canned.remove(canned)
                    if canned.how.startswith("apply-then-") and login is not None:
                        self._route(request, login)
                    return (canned.status, canned.headers, canned.body), canned.how
            if login is None:
                return (401, {}, {"message": "Bad credentials"}), "answer"
            return self._route(request, login), "answer"

    def _login(self, authorization: str) -> str | None:
        scheme, _, token = authorization.partition(" ")
        return self.tokens.get(token) if scheme == "Bearer" else None

    def _route(self, request: Recorded, login: str) -> Reply:
        method, path = request.method, request.path
        if (method, path) == ("GET", "/user"):
            if login in self.no_user:
                return 403, {}, {"message": "Resource not accessible by integration"}
            return 200, {}, {"login": login, "id": 1, "type": "User"}
        if match := _ISSUE.match(path):
            key = (match[1], int(match[2]))
            if method == "GET":
                return self._issue(key) or (200, {}, {"number": key[1], "locked": False})
        if match := _COMMENTS.match(path):
            key = (match[1], int(match[2]))
            problem = self._issue(key)
            if problem:
                return problem
            if method == "GET":
                return self._list(key, request.query)
            if method == "POST":
                return self._create(key, login, request.body)
        if (match := _COMMENT.match(path)) and method == "PATCH":
            return self._update(match[1], int(match[2]), login, request.body)
        if (match := _COMMENT.match(path)) and method == "DELETE":
            return self._delete(match[1], int(match[2]), login)
        return 404, {}, {"message": "Not Found"}

    def _issue(self, key: tuple[str, int]) -> Reply | None:
        if key in self.gone:
            return 410, {}, {"message": "This issue was deleted"}
        if key not in self.issues:
            return 404, {}, {"message": "Not Found"}
        return None

    def _json(self, comment: StoredComment) -> dict[str, Any]:
        return {
            "id": comment.id,
            "body": comment.body,
            "user": {
                "login": comment.login,
                "type": "Bot" if comment.login.endswith("[bot]") else "User",
            },
            "html_url": f"{self.origin}/{comment.repo}/issues/{comment.issue}"
            f"#issuecomment-{comment.id}",
        }

    def _list(self, key: tuple[str, int], query: dict[str, str]) -> Reply:
        per_page = min(int(query.get("per_page", 30)), self.page_size)
        page = int(query.get("page", 1))
        if page == 1:
            self._listings += 1
        items = [
            c
            for c in self._comments
            if (c.repo, c.issue) == key and self._visible_from.get(c.id, 0) <= self._listings
        ]
        pages = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        base = (self.link_base or self.url) + f"/repos/{key[0]}/issues/{key[1]}/comments"
        links = []
        if page < pages:
            links += [
                f'<{base}?per_page={per_page}&page={page + 1}>; rel="next"',
                f'<{base}?per_page={per_page}&page={pages}>; rel="last"',
            ]
        if page > 1:
            links += [
                f'<{base}?per_page={per_page}&page={page - 1}>; rel="prev"',
                f'<{base}?per_page={per_page}&page=1>; rel="first"',
            ]
        headers = {"Link": ", ".join(links)} if links else {}
        return 200, headers, [self._json(c) for c in chunk]

    def _valid_body(self, payload: Any) -> Reply | None:
        if not isinstance(payload, dict) or not isinstance(payload.get("body"), str):
            return 422, {}, {"message": "Invalid request.", "errors": ["body is required"]}
        if len(payload["body"]) > BODY_LIMIT:
            return (
                422,
                {},
                {
                    "message": "Validation Failed",
                    "errors": [
                        {
                            "resource": "IssueComment",
                            "code": "custom",
                            "field": "body",
                            "message": f"body is too long (maximum is {BODY_LIMIT} characters)",
                        }
                    ],
                },
            )
        return None

    def _create(self, key: tuple[str, int], login: str, payload: Any) -> Reply:
        if login in self.read_only:
            return 403, {}, {"message": "Resource not accessible by personal access token"}
        problem = self._valid_body(payload)
        if problem:
            return problem
        self._next_id += 1
        comment = StoredComment(self._next_id, login, payload["body"], *key)
        self._comments.append(comment)
        self._visible_from[comment.id] = self._listings + 1 + self.listing_lag
        return 201, {}, self._json(comment)

    def _update(self, repo: str, comment_id: int, login: str, payload: Any) -> Reply:
        found = [c for c in self._comments if c.id == comment_id and c.repo == repo]
        if not found:
            return 404, {}, {"message": "Not Found"}
        if found[0].login != login:
            return 403, {}, {"message": "Must have admin rights to Repository."}
        problem = self._valid_body(payload)
        if problem:
            return problem
        found[0].body = payload["body"]
        return 200, {}, self._json(found[0])

    def _delete(self, repo: str, comment_id: int, login: str) -> Reply:
        found = [c for c in self._comments if c.id == comment_id and c.repo == repo]
        if not found:
            return 404, {}, {"message": "Not Found"}
        if found[0].login != login:
            return 403, {}, {"message": "Must have admin rights to Repository."}
        self._comments.remove(found[0])
        return 204, {}, None


class _Handler(BaseHTTPRequestHandler):
    github: FakeGitHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        prefixed = parts.path.startswith(self.github.prefix + "/")
        path = parts.path[len(self.github.prefix) :] if prefixed else parts.path
        request = Recorded(
            method=self.command,
            path=path,
            query=dict(parse_qsl(parts.query)),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
        )
        (status, headers, payload), how = self.github.handle(request, prefixed)
        if how.endswith("reset"):  # an RST, as a dropped connection or a crashed proxy sends
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        if how in ("raw", "endless"):
            self._send_bytes(status, headers, payload, endless=how == "endless")
            return
        data = json.dumps(payload).encode() if payload is not None else b""
        if how == "drip-headers":  # even the status line and headers come a byte at a time
            head = f"HTTP/1.1 {status} OK\r\nContent-Length: {len(data)}\r\n".encode()
            try:
                for byte in head + b"X-Slow: " + b"x" * 200:
                    time.sleep(self.github.drip_seconds)
                    self.wfile.write(bytes([byte]))
            except OSError:
                pass
            self.close_connection = True
            return
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if how != "drip":
            self.wfile.write(data)
            return
        try:
            for byte in data:
                time.sleep(self.github.drip_seconds)
                self.wfile.write(bytes([byte]))
        except OSError:  # the client gave up waiting: that is what the test wants
            self.close_connection = True

    def _send_bytes(
        self, status: int, headers: dict[str, str], data: bytes, *, endless: bool
    ) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if endless:
            self.send_header("Content-Type", "application/json")
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
            while endless:
                self.wfile.write(data)
                self.github.endless_sent += len(data)
        except OSError:  # the client stopped reading: what the test wants
            self.close_connection = True

    do_GET = do_POST = do_PATCH = do_DELETE = _serve
