"""The package index client: release lists with upload times, cached on disk.

The index is read through the PEP 691 JSON simple API because the harness needs each release's
upload time (PEP 700): cells install a release "as of" its own date, so that its dependencies
resolve the way they did when it came out. The list is cached on disk so that a flaky or absent
network degrades to "working from the cached release list" instead of stopping a bisection.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from packaging.utils import NormalizedName, canonicalize_name

from harness import __version__
from harness.core.errors import RemoteError, UserError
from harness.core.releases import (
    BadIndexResponse,
    Release,
    ReleaseIndexError,
    ReleaseList,
    releases_from_simple_json,
)
from harness.edges.files import write_atomically
from harness.edges.venvs import uv_binary

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
USER_AGENT = f"cache-bisect-harness/{__version__} (release index)"
DEFAULT_TTL = timedelta(days=1)
DEFAULT_TIMEOUT = 20.0
_CACHE_FORMAT = 1
_PACKAGE_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
Clock = Callable[[], datetime]


class IndexUnavailable(ReleaseIndexError, RemoteError):
    """The index could not be reached (or not configured) and no cached list exists."""


class UnknownPackage(ReleaseIndexError, UserError):
    """The index answered 404: it has no such package."""


# --- the edge: HTTP and the disk cache -------------------------------------------------------


def default_index_url() -> str:
    """The index the installers use too: uv's or pip's setting, else uv's own default.

    uv installs every cell, so its default is the harness's: asked from uv itself (its help
    states it), so that no index host is written into the harness."""
    for variable in ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL"):
        value = os.environ.get(variable, "").strip()
        if value:
            return value
    return uv_default_index(uv_binary())


_UV_DEFAULT = re.compile(r"--default-index\b.*?\(by default: <([^>\s]+)>\)", re.DOTALL)


@functools.cache
def uv_default_index(uv: str) -> str:
    """The default index that `uv` at this path states in `uv pip install --help`."""
    try:
        shown = subprocess.run(
            [uv, "pip", "install", "--help"], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise IndexUnavailable(f"cannot ask uv for its default package index: {exc}") from exc
    found = _UV_DEFAULT.search(shown)
    if found is None:
        raise IndexUnavailable(
            "uv does not state its default package index: set UV_DEFAULT_INDEX or PIP_INDEX_URL"
        )
    return found.group(1)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _project_name(package: str) -> NormalizedName:
    if not _PACKAGE_NAME.match(package):
        raise ValueError(f"{package!r} is not a valid package name")
    return canonicalize_name(package)


def _snapshot_to_json(index: str, fetched_at: datetime, releases: Sequence[Release]) -> str:
    return json.dumps(
        {
            "format": _CACHE_FORMAT,
            "index": index,
            "fetched_at": fetched_at.astimezone(UTC).isoformat(),
            "releases": [
                {"version": r.text, "uploaded": r.uploaded.isoformat(), "yanked": r.yanked}
                for r in releases
            ],
        },
        indent=1,
    )


def _snapshot_from_json(raw: Any) -> tuple[str, datetime, list[Release]]:
    """Raises KeyError/TypeError/ValueError on anything malformed; the caller ignores the file."""
    if raw["format"] != _CACHE_FORMAT:
        raise ValueError("unknown cache format")
    fetched_at = datetime.fromisoformat(raw["fetched_at"])
    if fetched_at.tzinfo is None:
        raise ValueError("naive fetch time")
    releases = [
        Release.of(
            str(item["version"]),
            datetime.fromisoformat(item["uploaded"]),
            yanked=bool(item["yanked"]),
        )
        for item in raw["releases"]
    ]
    return str(raw["index"]), fetched_at.astimezone(UTC), releases


class ReleaseIndex:
    """Fetches release lists from a PEP 691 index, through a disk cache under `cache_dir`."""

    def __init__(
        self,
        cache_dir: Path,
        index_url: str | None = None,
        *,
        client: httpx.Client | None = None,
        ttl: timedelta = DEFAULT_TTL,
        clock: Clock = _utc_now,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._cache_dir = Path(cache_dir)
        self._index_url = (index_url or default_index_url()).rstrip("/")
        try:
            url = httpx.URL(self._index_url)
        except httpx.InvalidURL:
            raise UserError("the package index URL is not a valid URL") from None
        # Credentials may sit in the URL; nothing that is shown or stored may contain them.
        self._public_url = str(url.copy_with(username=None, password=None))
        self._label = (url.host if url.port is None else f"{url.host}:{url.port}") or (
            self._public_url
        )
        self._secrets = [s for s in (url.userinfo.decode(), url.username, url.password) if s]
        self._client = client
        self._ttl = ttl
        self._clock = clock
        self._timeout = timeout

    def releases(self, package: str) -> ReleaseList:
        """Cached list if younger than the TTL, else the index's, else a stale cache (flagged)."""
        project = _project_name(package)
        now = self._clock()
        cached = self._load(project)
        if cached is not None and timedelta(0) <= now - cached[0] < self._ttl:
            return ReleaseList(
                project, cached[1], from_cache=True, stale=False, fetched_at=cached[0]
            )
        try:
            fetched = self._fetch(project)
        except IndexUnavailable:
            if cached is None:
                raise
            return ReleaseList(
                project, cached[1], from_cache=True, stale=True, fetched_at=cached[0]
            )
        write_atomically(
            self._cache_path(project), _snapshot_to_json(self._public_url, now, fetched)
        )
        return ReleaseList(project, fetched, from_cache=False, stale=False, fetched_at=now)

    def _cache_path(self, project: str) -> Path:
        return self._cache_dir / "pypi" / f"{project}.json"

    def _load(self, project: str) -> tuple[datetime, list[Release]] | None:
        """The cached list for this index, or None if absent, unreadable or from another index."""
        try:
            raw = json.loads(self._cache_path(project).read_text(encoding="utf-8"))
            index, fetched_at, releases = _snapshot_from_json(raw)
        except (OSError, KeyError, TypeError, ValueError):
            return None
        return (fetched_at, releases) if index == self._public_url else None

    def _fetch(self, project: str) -> list[Release]:
        url = f"{self._index_url}/{project}/"
        headers = {"Accept": SIMPLE_JSON, "User-Agent": USER_AGENT}
        where = f"the package index {self._label}"
        try:
            if self._client is not None:
                response = self._client.get(url, headers=headers, follow_redirects=True)
            else:
                with httpx.Client(timeout=self._timeout) as client:
                    response = client.get(url, headers=headers, follow_redirects=True)
        except httpx.TimeoutException as exc:
            raise IndexUnavailable(f"{where} timed out listing {project}") from exc
        except httpx.TransportError as exc:
            detail = self._scrub(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            raise IndexUnavailable(f"cannot reach {where} to list {project}: {detail}") from exc
        status = response.status_code
        if status in (404, 410):
            raise UnknownPackage(f"{where} has no package {project!r}")
        if status == 429 or status >= 500:
            raise IndexUnavailable(f"{where} answered HTTP {status} when listing {project}")
        if not response.is_success:
            raise BadIndexResponse(f"{where} answered HTTP {status} when listing {project}")
        try:
            document = response.json()
            if not isinstance(document, dict):
                raise ValueError("not a JSON object")
            return releases_from_simple_json(project, document)
        except (ValueError, BadIndexResponse) as exc:
            kind = response.headers.get("content-type", "no content type")
            raise BadIndexResponse(
                f"{where} sent no usable PEP 691 JSON for {project} ({kind}): {exc}"
            ) from None

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text
