"""Minimal GitHub REST client for keeping one harness comment on an issue up to date.

Only what publishing needs: who the token belongs to, the issue, and listing, creating,
updating and removing its comments. It speaks GitHub's rate-limit protocol (bounded waits, bounded
retries), retries what a flaky network or a struggling server breaks (5xx, a reset
connection, a timeout) with exponential backoff and jitter under one overall deadline, and
turns every failure into a one-line ``GitHubError``. GET and PATCH are retried freely; a POST
is never simply repeated: after a failure that may have created the comment anyway, the
comments are listed again first. The token only ever travels in the Authorization header and
is scrubbed from every message raised here. An answer is read decoded, as it streams, and
dropped once larger than ``MAX_ANSWER_BYTES``; one that cannot be decoded or parsed (a
corrupt gzip body, JSON nested too deeply) is a ``GitHubError`` like any other.
"""

from __future__ import annotations

import contextlib
import datetime
import email.utils
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import stamina

from harness import __version__
from harness.core.errors import RemoteError
from harness.core.text import printable

__all__ = [
    "API_VERSION",
    "PUBLIC_API_URL",
    "Comment",
    "GitHubClient",
    "GitHubError",
    "rate_limit_wait",
]

PUBLIC_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
MAX_WAIT_SECONDS = 60.0
MAX_RETRIES = 3
MAX_PAGES = 100  # 10,000 comments: far beyond any real issue, stops a looping "next" link
_UNSPECIFIED_LIMIT_WAIT = 60.0  # GitHub's advice when a rate limit names no wait
REQUEST_SECONDS = 30.0  # one whole request, however slowly the server drips its answer
RETRY_SECONDS = 120.0  # all retries of one call together
RETRY_ATTEMPTS = 6
RETRY_FIRST_WAIT = 0.5
RETRY_MAX_WAIT = 16.0
MAX_ANSWER_BYTES = 32 * 1024 * 1024  # a page of 100 comments of 65,536 characters fits
_TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})

# Our notices say what is retried and why; stamina's own log line would reach stderr bare.
logging.getLogger("stamina").addHandler(logging.NullHandler())


class GitHubError(RemoteError):
    """A failed GitHub call, phrased as one printable line for the user (exit status 1)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(printable(message))
        self.status = status


class _Transient(Exception):
    """A failure that may pass if the same request is sent again (5xx, reset, timeout)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True, slots=True)
class Comment:
    """The fields of an issue comment that publishing looks at."""

    id: int
    login: str
    body: str
    html_url: str
    bot: bool = False  # GitHub's user type "Bot": an app or Actions, never a person

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> Comment:
        user = item.get("user") or {}
        return cls(
            id=int(item["id"]),
            login=str(user.get("login", "")),
            body=str(item.get("body") or ""),
            html_url=str(item.get("html_url", "")),
            bot=user.get("type") == "Bot",
        )


def rate_limit_wait(
    status: int, headers: Mapping[str, str], message: str, now: float
) -> float | None:
    """Seconds GitHub asks us to wait before retrying, or None if this is no rate limit.

    Follows GitHub's documented order: ``Retry-After`` first, then an exhausted primary
    limit (``x-ratelimit-remaining: 0`` until ``x-ratelimit-reset``), else a minute for a
    rate limit that names no wait. A bare 403 is a permission problem, not a rate limit.
    """
    if status not in (403, 429):
        return None
    retry_after = headers.get("retry-after")
    if retry_after is not None:
        seconds = _parse_retry_after(retry_after.strip(), now)
        if seconds is not None:
            return seconds
    if headers.get("x-ratelimit-remaining", "").strip() == "0":
        try:
            return max(1.0, float(headers.get("x-ratelimit-reset", "")) - now + 1.0)
        except ValueError:
            return _UNSPECIFIED_LIMIT_WAIT
    if status == 429 or "rate limit" in message.lower():
        return _UNSPECIFIED_LIMIT_WAIT
    return None


def _parse_retry_after(value: str, now: float) -> float | None:
    """Retry-After is delta-seconds (what GitHub sends) or an HTTP date."""
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000" dates parse naive; HTTP dates are always UTC
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, when.timestamp() - now)


def _stderr_notice(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class _Watchdog:
    """Shuts a request's connection down when its time is up (see ``GitHubClient._once``).

    httpx reports each new connection through its ``trace`` extension; the client keeps no
    idle connections, so every request opens one and the watchdog always has its socket.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def trace(self, event: str, info: Mapping[str, Any]) -> None:
        if event == "connection.connect_tcp.complete":
            stream = info.get("return_value")
            with self._lock:
                self._socket = stream.get_extra_info("socket") if stream is not None else None
                if self.expired:
                    self._shut()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            self._shut()

    def _shut(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()


class GitHubClient:
    """GitHub REST calls for one token against one API base (public or Enterprise Server).

    ``transport``, ``sleep``, ``clock`` and ``notify`` exist so tests can run against a
    local fake server without real waits.
    """

    def __init__(
        self,
        token: str,
        api_url: str = PUBLIC_API_URL,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        notify: Callable[[str], None] = _stderr_notice,
        max_wait: float = MAX_WAIT_SECONDS,
        max_retries: int = MAX_RETRIES,
        timeout: float = REQUEST_SECONDS,
        retry_seconds: float = RETRY_SECONDS,
        retry_attempts: int = RETRY_ATTEMPTS,
        retry_first_wait: float = RETRY_FIRST_WAIT,
        retry_max_wait: float = RETRY_MAX_WAIT,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
    ) -> None:
        if not token or not token.isascii() or not token.isprintable() or " " in token:
            # httpx/h11 would put an unsendable header value, token included, in its error.
            raise GitHubError("the token contains characters that cannot be sent in a header")
        self._token = token
        self._api_url = api_url.rstrip("/")
        self._base = httpx.URL(self._api_url + "/")
        self._sleep = sleep
        self._clock = clock
        self._notify = notify
        self._max_wait = max_wait
        self._max_retries = max_retries
        self._timeout = timeout
        self._retry_seconds = retry_seconds
        self._retry_attempts = retry_attempts
        self._retry_first_wait = retry_first_wait
        self._retry_max_wait = retry_max_wait
        self._max_answer_bytes = max_answer_bytes
        self._http = httpx.Client(
            base_url=self._api_url,
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": f"cache-bisect-harness/{__version__}",
            },
            transport=transport,
            timeout=timeout,
            follow_redirects=False,
            limits=httpx.Limits(max_keepalive_connections=0),  # see _Watchdog
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GitHubClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- endpoints ---------------------------------------------------------------------

    def authenticated_login(self) -> str:
        """The login the token acts as, so we only ever edit our own comments."""
        data = self._json(self._send("GET", "/user", action="looking up the token's user"))
        if not isinstance(data, dict) or not data.get("login"):
            raise GitHubError("unexpected answer from GET /user: no login")
        return str(data["login"])

    def check_issue(self, repo: str, issue: int) -> None:
        """Fail early, with a clear 404/410, if the issue is missing or gone."""
        self._send("GET", f"/repos/{repo}/issues/{issue}", action=f"reading {repo}#{issue}")

    def issue_comments(self, repo: str, issue: int) -> Iterator[Comment]:
        """All comments on the issue, following ``Link: rel="next"`` pagination."""
        url: str = f"/repos/{repo}/issues/{issue}/comments"
        params: dict[str, int] | None = {"per_page": 100}
        action = f"listing comments of {repo}#{issue}"
        for _ in range(MAX_PAGES):
            response = self._send("GET", url, action=action, params=params)
            data = self._json(response)
            if not isinstance(data, list):
                raise GitHubError(f"unexpected answer while {action}: not a list")
            for item in data:
                yield self._parse_comment(item, response)
            next_url = response.links.get("next", {}).get("url")
            if not next_url:
                return
            url, params = self._same_origin(next_url), None
        raise GitHubError(f"gave up {action}: more than {MAX_PAGES} pages")

    def create_comment(
        self, repo: str, issue: int, body: str, *, known: Collection[int] = ()
    ) -> Comment:
        """POST the comment once: after a failure that may have created it anyway, the
        comments are listed again and a new one (id not in ``known``) with this exact body
        is taken as ours instead of posting a duplicate."""
        action = f"commenting on {repo}#{issue}"
        attempts = 0
        try:
            for attempt in self._retrying(action):
                with attempt:
                    attempts = attempt.num
                    if attempts > 1:
                        posted = self._find_posted(repo, issue, body, known)
                        if posted is not None:
                            return posted
                    response = self._send(
                        "POST",
                        f"/repos/{repo}/issues/{issue}/comments",
                        action=action,
                        json={"body": body},
                        retry=False,
                    )
                    return self._comment(response)
        except _Transient as error:
            raise self._gave_up(error, attempts) from None
        raise AssertionError("unreachable: stamina either returns or raises")

    def _find_posted(
        self, repo: str, issue: int, body: str, known: Collection[int]
    ) -> Comment | None:
        wanted = body.strip()
        for comment in self.issue_comments(repo, issue):
            if comment.id not in known and comment.body.replace("\r\n", "\n").strip() == wanted:
                return comment
        return None

    def update_comment(self, repo: str, comment_id: int, body: str) -> Comment:
        response = self._send(
            "PATCH",
            f"/repos/{repo}/issues/comments/{comment_id}",
            action=f"updating comment {comment_id} in {repo}",
            json={"body": body},
        )
        return self._comment(response)

    def delete_comment(self, repo: str, comment_id: int) -> None:
        """Remove the comment; one already gone (another run removed it) is no error."""
        try:
            self._send(
                "DELETE",
                f"/repos/{repo}/issues/comments/{comment_id}",
                action=f"removing comment {comment_id} in {repo}",
            )
        except GitHubError as error:
            if error.status != 404:
                raise

    # -- plumbing ----------------------------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        *,
        action: str,
        params: Mapping[str, int] | None = None,
        json: Any = None,
        retry: bool = True,
    ) -> httpx.Response:
        """One API call with bounded rate-limit retries; non-2xx becomes GitHubError.

        With ``retry`` (GET, PATCH: sending them twice does no harm) transient failures are
        retried here; without it (POST) they raise ``_Transient`` for the caller to handle.
        """
        for attempt in range(self._max_retries + 1):
            response = self._exchange(method, url, action, params, json, retry)
            wait = rate_limit_wait(
                response.status_code, response.headers, _message(response), self._clock()
            )
            if wait is None:
                break
            if attempt == self._max_retries:
                raise GitHubError(
                    f"still rate-limited by GitHub after {self._max_retries} retries while "
                    f"{action}; try again later",
                    response.status_code,
                )
            if wait > self._max_wait:
                raise GitHubError(
                    f"rate-limited by GitHub while {action}: it asks to wait {wait:.0f} s, "
                    f"more than the {self._max_wait:.0f} s this tool waits; try again later",
                    response.status_code,
                )
            self._notify(
                f"GitHub rate limit (HTTP {response.status_code}) while {action}: "
                f"waiting {wait:.0f} s before retry {attempt + 1}/{self._max_retries}"
            )
            self._sleep(wait)
        if response.is_success:
            return response
        raise GitHubError(self._scrub(_describe(response, action)), response.status_code)

    def _exchange(
        self,
        method: str,
        url: str,
        action: str,
        params: Mapping[str, int] | None,
        json: Any,
        retry: bool,
    ) -> httpx.Response:
        if not retry:
            return self._once(method, url, action, params, json)
        attempts = 0
        try:
            for attempt in self._retrying(action):
                with attempt:
                    attempts = attempt.num
                    return self._once(method, url, action, params, json)
        except _Transient as error:
            raise self._gave_up(error, attempts) from None
        raise AssertionError("unreachable: stamina either returns or raises")

    def _once(
        self, method: str, url: str, action: str, params: Mapping[str, int] | None, json: Any
    ) -> httpx.Response:
        """One request, its whole answer within ``timeout``: httpx's timeouts are per read,
        so a server dripping a byte at a time could hold a request for ever; a watchdog
        shuts the connection down at the deadline, however far the answer has come."""
        watchdog = _Watchdog(self._timeout)
        request = self._http.build_request(
            method, url, params=params, json=json, extensions={"trace": watchdog.trace}
        )
        try:
            with watchdog:
                streamed = self._http.send(request, stream=True)
                try:
                    content = self._read_capped(streamed, action)
                finally:
                    streamed.close()
        except httpx.ConnectError as exc:  # refused, no such host: sending again won't help
            detail = str(exc) or type(exc).__name__
            raise GitHubError(
                self._scrub(f"cannot reach {self._api_url} while {action}: {detail}")
            ) from None
        except httpx.DecodingError:
            raise GitHubError(
                f"GitHub's answer while {action} could not be decoded "
                f"({streamed.headers.get('content-encoding', 'no encoding')}); try again later",
                streamed.status_code,
            ) from None
        except httpx.TransportError as exc:  # reset, timeout, a torn answer
            detail = str(exc) or type(exc).__name__
            if watchdog.expired:
                detail = f"no full answer within {self._timeout:g} s"
            raise _Transient(
                self._scrub(f"lost the connection to {self._api_url} while {action}: {detail}")
            ) from None
        headers = httpx.Headers(streamed.headers)
        for decoded in ("content-encoding", "content-length", "transfer-encoding"):
            headers.pop(decoded, None)
        response = httpx.Response(
            streamed.status_code,
            headers=headers,
            content=content,
            request=request,
            extensions=streamed.extensions,
        )
        if response.status_code in _TRANSIENT_STATUSES:
            raise _Transient(self._scrub(_describe(response, action)), response.status_code)
        return response

    def _read_capped(self, streamed: httpx.Response, action: str) -> bytes:
        """The decoded answer, read no further than ``max_answer_bytes``."""
        chunks, size = [], 0
        for chunk in streamed.iter_bytes():
            size += len(chunk)
            if size > self._max_answer_bytes:
                raise GitHubError(
                    f"GitHub's answer while {action} is larger than "
                    f"{self._max_answer_bytes // 2**20} MiB; stopped reading it",
                    streamed.status_code,
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _retrying(self, action: str) -> Iterable[stamina.Attempt]:
        """Exponential backoff with jitter, all attempts within one overall deadline."""

        def transient(error: Exception) -> bool:
            if not isinstance(error, _Transient):
                return False
            self._notify(f"{error.message}; retrying")
            return True

        return stamina.retry_context(
            on=transient,
            attempts=self._retry_attempts,
            timeout=self._retry_seconds,
            wait_initial=self._retry_first_wait,
            wait_max=self._retry_max_wait,
            wait_jitter=self._retry_first_wait,
        )

    def _gave_up(self, error: _Transient, attempts: int) -> GitHubError:
        tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
        return GitHubError(f"{error.message} (gave up after {tries})", error.status)

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except (ValueError, RecursionError):
            raise GitHubError(
                self._scrub(
                    f"unexpected non-JSON answer from {response.request.method} "
                    f"{response.request.url.path} (HTTP {response.status_code})"
                )
            ) from None

    def _comment(self, response: httpx.Response) -> Comment:
        return self._parse_comment(self._json(response), response)

    def _parse_comment(self, item: Any, response: httpx.Response) -> Comment:
        try:
            return Comment.from_json(item)
        except (AttributeError, KeyError, TypeError, ValueError):
            raise GitHubError(
                f"unexpected answer from {response.request.method} "
                f"{response.request.url.path}: not a comment"
            ) from None

    def _same_origin(self, url: str) -> str:
        """Only follow pagination links to the API host: the token must not go elsewhere."""
        try:
            target = self._base.join(url)
        except httpx.InvalidURL:
            raise GitHubError("GitHub sent an invalid pagination link") from None
        if (target.scheme, target.host, target.port) != (
            self._base.scheme,
            self._base.host,
            self._base.port,
        ):
            raise GitHubError(
                self._scrub(f"refusing to follow a pagination link off the API host: {target}")
            )
        return str(target)

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "***")


def _message(response: httpx.Response) -> str:
    """GitHub's own explanation (``message`` plus validation ``errors``), if any."""
    try:
        data = response.json()
    except (ValueError, RecursionError):
        return response.reason_phrase
    if not isinstance(data, dict):
        return response.reason_phrase
    parts = [str(data.get("message") or response.reason_phrase)]
    for error in data.get("errors") or []:
        if isinstance(error, dict):
            detail = error.get("message") or " ".join(
                str(error[key]) for key in ("field", "code") if key in error
            )
            parts.append(str(detail))
        else:
            parts.append(str(error))
    return printable(": ".join(part for part in parts if part))


def _describe(response: httpx.Response, action: str) -> str:
    status, said = response.status_code, _message(response)
    if status == 401:
        return f"GitHub rejected the token (401: {said}); check GITHUB_TOKEN / GH_TOKEN"
    if status == 403:
        return f"no permission for {action} (403: {said}); check the token's scopes and access"
    if status == 404:
        return (
            f"not found while {action} (404: {said}); check --repo and --issue, and that "
            "the token can see the repository"
        )
    if status == 410:
        return f"gone while {action} (410: {said}); the issue was deleted or issues are disabled"
    if status == 422:
        return f"GitHub rejected the request while {action} (422: {said})"
    return f"GitHub answered HTTP {status} while {action}: {said}"
