"""Tests for the release helpers (core) and the cached package index client (edges)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.version import Version

from harness.core.errors import UserError
from harness.core.releases import (
    BadIndexResponse,
    InvalidBound,
    InvertedRange,
    Release,
    UnknownRelease,
    between,
    cutoff_for,
    expand,
    latest_patch_per_minor,
    releases_from_simple_json,
    resolve_bound,
    select,
)
from harness.edges import index as index_module
from harness.edges.index import (
    SIMPLE_JSON,
    USER_AGENT,
    IndexUnavailable,
    ReleaseIndex,
    UnknownPackage,
    default_index_url,
    uv_default_index,
)
from harness.edges.venvs import uv_binary

T0 = datetime(2018, 3, 20, 14, 22, 45, tzinfo=UTC)


def rel(text: str, *, days: int = 0, yanked: bool = False) -> Release:
    return Release.of(text, T0 + timedelta(days=days), yanked=yanked)


def texts(releases: list[Release]) -> list[str]:
    return [r.text for r in releases]


# A docker-compose-like history, deliberately unsorted.
HISTORY = [
    rel("1.21.0", days=40),
    rel("1.20.0rc1", days=-20),
    rel("1.20.0", days=0),
    rel("1.9.0", days=-400),
    rel("1.20.1", days=5),
    rel("1.10.0", days=-300),
    rel("1.21.1", days=50, yanked=True),
    rel("1.21.2", days=60),
    rel("1.22.0rc1", days=70),
    rel("1.19.0", days=-60),
]


# --- Release ---------------------------------------------------------------------------------


def test_release_keeps_published_text_and_orders_by_pep440() -> None:
    ten, one, nine = rel("1.10"), rel("1.1"), rel("1.9")
    assert (ten.text, one.text) == ("1.10", "1.1")
    assert ten.version != one.version
    assert texts(select([ten, one, nine])) == ["1.1", "1.9", "1.10"]


def test_release_keeps_non_normalized_text() -> None:
    release = rel("1.1.0-rc1")
    assert release.text == "1.1.0-rc1"
    assert str(release) == "1.1.0-rc1"
    assert release.version == Version("1.1.0rc1")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1.20.0", False), ("1.20.0rc1", True), ("1.20.0.dev3", True), ("1.20.0.post1", False)],
)
def test_prerelease_property(text: str, expected: bool) -> None:
    assert rel(text).prerelease is expected


def test_release_requires_aware_time_and_stores_utc() -> None:
    with pytest.raises(ValueError, match="time zone"):
        Release.of("1.0", datetime(2018, 1, 1))
    plus_two = timezone(timedelta(hours=2))
    release = Release.of("1.0", datetime(2018, 1, 1, 12, tzinfo=plus_two))
    assert release.uploaded == datetime(2018, 1, 1, 10, tzinfo=UTC)
    assert release.uploaded.utcoffset() == timedelta(0)


# --- select ----------------------------------------------------------------------------------


def test_select_excludes_pre_and_yanked_by_default_and_sorts() -> None:
    assert texts(select(HISTORY)) == [
        "1.9.0",
        "1.10.0",
        "1.19.0",
        "1.20.0",
        "1.20.1",
        "1.21.0",
        "1.21.2",
    ]


def test_select_flags_let_pre_and_yanked_in() -> None:
    assert "1.20.0rc1" in texts(select(HISTORY, pre=True))
    assert "1.21.1" not in texts(select(HISTORY, pre=True))
    assert "1.21.1" in texts(select(HISTORY, yanked=True))
    assert len(select(HISTORY, pre=True, yanked=True)) == len(HISTORY)


# --- resolve_bound ---------------------------------------------------------------------------


def test_exact_bound_resolves_to_that_release_on_both_sides() -> None:
    for side in ("low", "high"):
        assert resolve_bound(HISTORY, "1.20.0", side).text == "1.20.0"


def test_exact_bound_is_honoured_even_when_pre_or_yanked() -> None:
    assert resolve_bound(HISTORY, "1.20.0rc1", "low").text == "1.20.0rc1"
    assert resolve_bound(HISTORY, "1.21.1", "high").text == "1.21.1"


def test_series_bound_low_is_earliest_and_high_is_latest() -> None:
    assert resolve_bound(HISTORY, "1.20", "low").text == "1.20.0"
    assert resolve_bound(HISTORY, "1.20", "high").text == "1.20.1"
    # 1.21.1 is yanked and skipped by default; 1.21.2 is the latest allowed.
    assert resolve_bound(HISTORY, "1.21", "high").text == "1.21.2"
    assert resolve_bound(HISTORY, "1", "low").text == "1.9.0"
    assert resolve_bound(HISTORY, "1", "high").text == "1.21.2"


def test_series_bound_respects_flags() -> None:
    assert resolve_bound(HISTORY, "1.20", "low", pre=True).text == "1.20.0rc1"
    assert resolve_bound(HISTORY, "1.22", "low", pre=True).text == "1.22.0rc1"
    with pytest.raises(UnknownRelease):
        resolve_bound(HISTORY, "1.22", "low")


def test_series_is_not_confused_with_zero_padded_equality() -> None:
    # Version("1.20") == Version("1.20.0"), but "1.20" as a high bound means the whole series.
    assert resolve_bound(HISTORY, "1.20", "high").text == "1.20.1"


def test_release_published_with_fewer_components_matches_exactly() -> None:
    releases = [rel("2.0"), rel("2.0.1", days=1), rel("2.1", days=2)]
    assert resolve_bound(releases, "2.0", "high").text == "2.0"
    assert resolve_bound(releases, "2.0.0", "low").text == "2.0"
    assert resolve_bound(releases, "2", "high").text == "2.1"


def test_series_does_not_match_by_string_prefix() -> None:
    releases = [rel("1.1.0"), rel("1.10.0", days=1), rel("1.11.0", days=2)]
    assert resolve_bound(releases, "1.1", "high").text == "1.1.0"


def test_unknown_release_lists_three_nearest_on_each_side_in_one_line() -> None:
    releases = [rel(f"1.{minor}.0", days=minor) for minor in range(10, 30)]
    with pytest.raises(UnknownRelease) as caught:
        resolve_bound([r for r in releases if r.text != "1.20.0"], "1.20.0", "low")
    error = caught.value
    assert texts(error.nearest) == ["1.17.0", "1.18.0", "1.19.0", "1.21.0", "1.22.0", "1.23.0"]
    message = str(error)
    assert "\n" not in message
    assert "'1.20.0'" in message
    assert "1.17.0, 1.18.0, 1.19.0, 1.21.0, 1.22.0, 1.23.0" in message
    assert "1.16.0" not in message and "1.24.0" not in message
    assert isinstance(error, UserError) and error.exit_code == 2


def test_unknown_release_near_the_end_lists_what_exists() -> None:
    with pytest.raises(UnknownRelease) as caught:
        resolve_bound(HISTORY, "1.35", "high")
    assert texts(caught.value.nearest) == ["1.21.1", "1.21.2", "1.22.0rc1"]
    assert "1.21.1 (yanked)" in str(caught.value)
    assert "1.22.0rc1 (pre-release)" in str(caught.value)


def test_unknown_release_in_empty_list() -> None:
    with pytest.raises(UnknownRelease, match="empty"):
        resolve_bound([], "1.0", "low")


def test_bound_with_pre_segment_is_exact_only() -> None:
    with pytest.raises(UnknownRelease):
        resolve_bound(HISTORY, "1.20rc1", "low", pre=True)


@pytest.mark.parametrize("bad", ["1.x", "latest", "", "1..2"])
def test_invalid_bound_syntax(bad: str) -> None:
    with pytest.raises(InvalidBound) as caught:
        resolve_bound(HISTORY, bad, "low")
    assert "\n" not in str(caught.value)
    assert repr(bad) in str(caught.value)
    assert isinstance(caught.value, UserError) and caught.value.exit_code == 2


def test_invalid_side() -> None:
    with pytest.raises(ValueError, match="side"):
        resolve_bound(HISTORY, "1.20", "middle")  # type: ignore[arg-type]


# --- between ---------------------------------------------------------------------------------


def test_between_series_is_inclusive() -> None:
    assert texts(between(HISTORY, "1.20", "1.21")) == ["1.20.0", "1.20.1", "1.21.0", "1.21.2"]
    assert texts(between(HISTORY, "1.20", "1.20")) == ["1.20.0", "1.20.1"]


def test_between_exact_bounds() -> None:
    assert texts(between(HISTORY, "1.10.0", "1.20.0")) == ["1.10.0", "1.19.0", "1.20.0"]


def test_between_keeps_explicit_bounds_excluded_by_flags() -> None:
    result = texts(between(HISTORY, "1.20.0rc1", "1.21.1"))
    assert result == ["1.20.0rc1", "1.20.0", "1.20.1", "1.21.0", "1.21.1"]


def test_between_with_flags() -> None:
    assert texts(between(HISTORY, "1.21", "1.22", pre=True, yanked=True)) == [
        "1.21.0",
        "1.21.1",
        "1.21.2",
        "1.22.0rc1",
    ]


def test_between_inverted_range() -> None:
    with pytest.raises(InvertedRange) as caught:
        between(HISTORY, "1.21", "1.20")
    assert "1.21.0" in str(caught.value) and "1.20.1" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_between_unknown_bound() -> None:
    with pytest.raises(UnknownRelease):
        between(HISTORY, "1.15", "1.20")


# --- expand ----------------------------------------------------------------------------------


def test_expand_specifier_range() -> None:
    assert texts(expand(HISTORY, ">=1.19,<1.21")) == ["1.19.0", "1.20.0", "1.20.1"]
    assert texts(expand(HISTORY, "==1.20.*")) == ["1.20.0", "1.20.1"]
    assert texts(expand(HISTORY, "")) == texts(select(HISTORY))


def test_expand_respects_flags() -> None:
    assert "1.20.0rc1" not in texts(expand(HISTORY, ">=1.19"))
    assert "1.20.0rc1" in texts(expand(HISTORY, ">=1.19", pre=True))
    assert "1.21.1" not in texts(expand(HISTORY, "~=1.21.0"))
    assert "1.21.1" in texts(expand(HISTORY, "~=1.21.0", yanked=True))


def test_expand_specifier_naming_a_prerelease_admits_prereleases() -> None:
    assert texts(expand(HISTORY, "==1.20.0rc1")) == ["1.20.0rc1"]


def test_expand_invalid_specifier() -> None:
    with pytest.raises(InvalidBound) as caught:
        expand(HISTORY, ">=1.19,,banana")
    assert "\n" not in str(caught.value)


# --- latest_patch_per_minor and cutoff_for -----------------------------------------------------


def test_latest_patch_per_minor() -> None:
    assert texts(latest_patch_per_minor(select(HISTORY))) == [
        "1.9.0",
        "1.10.0",
        "1.19.0",
        "1.20.1",
        "1.21.2",
    ]


def test_latest_patch_per_minor_does_not_filter() -> None:
    assert texts(latest_patch_per_minor([rel("1.22.0rc1"), rel("1.21.1", yanked=True)])) == [
        "1.21.1",
        "1.22.0rc1",
    ]


def test_cutoff_is_upload_time_plus_one_hour() -> None:
    assert cutoff_for(rel("1.20.0")) == T0 + timedelta(hours=1)


# --- properties ------------------------------------------------------------------------------

versions_strategy = st.lists(
    st.tuples(
        st.integers(0, 3),
        st.integers(0, 12),
        st.integers(0, 5),
        st.sampled_from(["", "rc1", "b2", ".post1"]),
        st.booleans(),
    ),
    max_size=30,
    unique_by=lambda t: t[:4],
).map(
    lambda items: [
        rel(f"{a}.{b}.{c}{suffix}", days=i, yanked=yanked)
        for i, (a, b, c, suffix, yanked) in enumerate(items)
    ]
)


@given(versions_strategy, st.booleans(), st.booleans())
def test_select_is_sorted_filtered_subset(releases: list[Release], pre: bool, yanked: bool) -> None:
    chosen = select(releases, pre=pre, yanked=yanked)
    assert [r.version for r in chosen] == sorted(r.version for r in chosen)
    assert set(chosen) <= set(releases)
    assert all((pre or not r.prerelease) and (yanked or not r.yanked) for r in chosen)
    assert len(chosen) == sum(
        (pre or not r.prerelease) and (yanked or not r.yanked) for r in releases
    )


@given(versions_strategy)
def test_latest_patch_per_minor_keeps_maximum_of_each_minor(releases: list[Release]) -> None:
    kept = latest_patch_per_minor(releases)
    minors = {(r.version.major, r.version.minor) for r in releases}
    assert [(r.version.major, r.version.minor) for r in kept] == sorted(minors)
    for release in releases:
        winner = next(k for k in kept if k.version.release[:2] == release.version.release[:2])
        assert release.version <= winner.version


@given(versions_strategy, st.integers(0, 3), st.integers(0, 12), st.integers(0, 12))
def test_between_series_stays_within_resolved_bounds(
    releases: list[Release], major: int, minor_a: int, minor_b: int
) -> None:
    low, high = f"{major}.{min(minor_a, minor_b)}", f"{major}.{max(minor_a, minor_b)}"
    try:
        result = between(releases, low, high)
    except UnknownRelease:
        return
    first = resolve_bound(releases, low, "low")
    last = resolve_bound(releases, high, "high")
    assert result[0] == first and result[-1] == last
    allowed = [r for r in select(releases) if first.version <= r.version <= last.version]
    assert result == allowed


# --- PEP 691 parsing -------------------------------------------------------------------------


def page(versions: list[str], files: list[dict[str, object]]) -> dict[str, object]:
    return {
        "meta": {"api-version": "1.1"},
        "name": "docker-compose",
        "versions": versions,
        "files": files,
    }


def file(name: str, time: str | None = "2018-03-20T14:22:47.850525Z", yanked: object = False):
    entry: dict[str, object] = {
        "filename": name,
        "url": f"../../{name}",
        "hashes": {},
        "yanked": yanked,
    }
    if time is not None:
        entry["upload-time"] = time
    return entry


def test_parse_uses_earliest_file_time_and_drops_fileless_versions() -> None:
    document = page(
        ["1.20.0", "1.21.0"],
        [
            file("docker-compose-1.20.0.tar.gz", "2018-03-20T14:22:47.850525Z"),
            file("docker_compose-1.20.0-py2.py3-none-any.whl", "2018-03-20T14:22:45.690057Z"),
        ],
    )
    (release,) = releases_from_simple_json("docker-compose", document)
    assert release.text == "1.20.0"
    assert release.uploaded == datetime(2018, 3, 20, 14, 22, 45, 690057, tzinfo=UTC)
    assert release.yanked is False


def test_parse_yanked_only_when_all_files_are() -> None:
    document = page(
        ["1.0", "2.0", "3.0"],
        [
            file("docker-compose-1.0.tar.gz", yanked=True),
            file("docker_compose-1.0-py3-none-any.whl", yanked="broken metadata"),
            file("docker-compose-2.0.tar.gz", yanked=True),
            file("docker_compose-2.0-py3-none-any.whl", yanked=False),
            file("docker-compose-3.0.zip"),
        ],
    )
    result = releases_from_simple_json("docker-compose", document)
    assert [(r.text, r.yanked) for r in result] == [("1.0", True), ("2.0", False), ("3.0", False)]


def test_parse_maps_non_normalized_versions_back_to_published_text() -> None:
    document = page(
        ["1.1.0", "1.1.0-rc1", "1.10.0"],
        [
            file("docker-compose-1.1.0-rc1.tar.gz", "2015-02-01T00:00:00Z"),
            file("docker_compose-1.1.0rc1-py2-none-any.whl", "2015-01-31T00:00:00Z"),
            file("docker-compose-1.1.0.tar.gz", "2015-02-25T00:00:00Z"),
            file("docker-compose-1.10.0.tar.gz", "2017-01-18T00:00:00Z"),
        ],
    )
    result = releases_from_simple_json("docker-compose", document)
    assert texts(result) == ["1.1.0-rc1", "1.1.0", "1.10.0"]
    assert result[0].uploaded == datetime(2015, 1, 31, tzinfo=UTC)


def test_parse_handles_legacy_file_types_and_ignores_foreign_files() -> None:
    document = page(
        ["1.0", "1.0.1", "nonsense version"],
        [
            file("docker-compose-1.0-py2.7.egg", "2014-01-02T00:00:00Z"),
            file("docker-compose-1.0.1.win32.exe", "2014-02-02T00:00:00Z"),
            file("other-project-1.0.tar.gz", "2013-01-01T00:00:00Z"),
            file("docker-compose-9.9.tar.gz", "2013-01-01T00:00:00Z"),
            file("docker-compose-nonsense version.tar.gz", "2013-01-01T00:00:00Z"),
        ],
    )
    result = releases_from_simple_json("docker-compose", document)
    assert [(r.text, r.uploaded.month) for r in result] == [("1.0", 1), ("1.0.1", 2)]


def test_parse_rejects_pages_without_pep700_data() -> None:
    with pytest.raises(BadIndexResponse, match="versions"):
        releases_from_simple_json("docker-compose", {"files": []})
    no_times = page(["1.0"], [file("docker-compose-1.0.tar.gz", time=None)])
    with pytest.raises(BadIndexResponse, match="upload-time"):
        releases_from_simple_json("docker-compose", no_times)


# --- default index URL -----------------------------------------------------------------------


def test_default_index_url_prefers_uv_then_pip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UV_DEFAULT_INDEX", "http://uv-default.invalid/simple")
    monkeypatch.setenv("UV_INDEX_URL", "http://uv.invalid/simple")
    monkeypatch.setenv("PIP_INDEX_URL", "http://pip.invalid/simple")
    assert default_index_url() == "http://uv-default.invalid/simple"
    monkeypatch.delenv("UV_DEFAULT_INDEX")
    monkeypatch.setenv("PIP_INDEX_URL", "http://pip.invalid/simple")
    assert default_index_url() == "http://uv.invalid/simple"
    monkeypatch.setenv("UV_INDEX_URL", "")
    assert default_index_url() == "http://pip.invalid/simple"


def _fake_uv(tmp_path: Path, help_text: str) -> str:
    """A `uv` that prints the given help text: the harness reads the default from it."""
    script = tmp_path / "uv"
    script.write_text(f"#!/bin/sh\ncat <<'EOF'\n{help_text}\nEOF\n", encoding="utf-8")
    script.chmod(0o755)
    return str(script)


def test_default_index_url_without_settings_is_the_one_uv_states(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for variable in ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL"):
        monkeypatch.delenv(variable, raising=False)
    uv = _fake_uv(
        tmp_path,
        "  -i, --index-url <INDEX_URL>\n"
        "      --default-index <DEFAULT_INDEX>\n"
        "          The default package index (by default: <http://stated.invalid/simple>)\n"
        "          [env: UV_DEFAULT_INDEX]",
    )
    monkeypatch.setattr(index_module, "uv_binary", lambda: uv)
    assert default_index_url() == "http://stated.invalid/simple"


def test_a_uv_that_states_no_default_index_says_what_to_set(tmp_path: Path) -> None:
    uv = _fake_uv(tmp_path, "Usage: uv pip install [OPTIONS]")
    with pytest.raises(IndexUnavailable, match="UV_DEFAULT_INDEX or PIP_INDEX_URL"):
        uv_default_index(uv)


def test_the_installed_uv_states_a_default_index() -> None:
    """The real uv the cells install with (no network: only its help is read)."""
    url = uv_default_index(uv_binary())
    assert url.startswith("https://")
    assert url.endswith("/simple")


# --- the edge against a real HTTP server -----------------------------------------------------

COMPOSE_PAGE = page(
    ["1.20.0", "1.20.1", "1.21.0rc1"],
    [
        file("docker-compose-1.20.0.tar.gz", "2018-03-20T14:22:47Z"),
        file("docker_compose-1.20.0-py2.py3-none-any.whl", "2018-03-20T14:22:45Z"),
        file("docker-compose-1.20.1.tar.gz", "2018-03-21T20:00:00Z"),
        file("docker-compose-1.21.0rc1.tar.gz", "2018-04-02T00:00:00Z"),
    ],
)


@dataclass
class FakeIndex:
    """A real HTTP server on 127.0.0.1 serving canned responses and recording requests."""

    server: ThreadingHTTPServer
    routes: dict[str, tuple[int, str, bytes]] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    hang: set[str] = field(default_factory=set)
    released: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def url(self, userinfo: str = "") -> str:
        return f"http://{userinfo}127.0.0.1:{self.port}/simple"

    def serve_json(self, path: str, document: object, status: int = 200) -> None:
        self.routes[path] = (status, SIMPLE_JSON, json.dumps(document).encode())

    def stop(self) -> None:
        self.released.set()
        if self.thread is not None:
            self.server.shutdown()
            self.thread.join()
            self.thread = None
        self.server.server_close()


@pytest.fixture
def fake_index() -> Iterator[FakeIndex]:
    holder: list[FakeIndex] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            index = holder[0]
            index.requests.append((self.path, dict(self.headers.items())))
            if self.path in index.hang:
                index.released.wait(10)
                return
            status, content_type, body = index.routes.get(
                self.path, (404, "text/plain", b"not found")
            )
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    index = FakeIndex(ThreadingHTTPServer(("127.0.0.1", 0), Handler))
    holder.append(index)
    index.thread = threading.Thread(
        target=index.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    index.thread.start()
    yield index
    index.stop()


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2024, 5, 1, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def unreachable_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/simple"


def test_fresh_fetch_parses_and_caches(
    fake_index: FakeIndex, tmp_path: Path, clock: FakeClock
) -> None:
    fake_index.serve_json("/simple/docker-compose/", COMPOSE_PAGE)
    index = ReleaseIndex(tmp_path, fake_index.url(), clock=clock)

    listing = index.releases("Docker_Compose")

    assert (listing.package, listing.from_cache, listing.stale) == ("docker-compose", False, False)
    assert listing.fetched_at == clock.now
    assert texts(listing.releases) == ["1.20.0", "1.20.1", "1.21.0rc1"]
    assert listing.releases[0].uploaded == datetime(2018, 3, 20, 14, 22, 45, tzinfo=UTC)
    (path, headers) = fake_index.requests[0]
    assert path == "/simple/docker-compose/"
    assert headers["Accept"] == SIMPLE_JSON
    assert headers["User-Agent"] == USER_AGENT
    assert "cache-bisect-harness" in USER_AGENT
    assert [p.name for p in (tmp_path / "pypi").iterdir()] == ["docker-compose.json"]
    stored = json.loads((tmp_path / "pypi" / "docker-compose.json").read_text())
    assert stored["fetched_at"] == clock.now.isoformat()


def test_fresh_cache_is_used_without_network(
    fake_index: FakeIndex, tmp_path: Path, clock: FakeClock
) -> None:
    fake_index.serve_json("/simple/docker-compose/", COMPOSE_PAGE)
    first = ReleaseIndex(tmp_path, fake_index.url(), clock=clock).releases("docker-compose")
    clock.now += timedelta(hours=23)

    again = ReleaseIndex(tmp_path, fake_index.url(), clock=clock).releases("docker-compose")

    assert len(fake_index.requests) == 1
    assert (again.from_cache, again.stale) == (True, False)
    assert again.fetched_at == first.fetched_at
    assert again.releases == first.releases


def test_expired_cache_is_refreshed_when_index_is_up(
    fake_index: FakeIndex, tmp_path: Path, clock: FakeClock
) -> None:
    fake_index.serve_json("/simple/docker-compose/", COMPOSE_PAGE)
    index = ReleaseIndex(tmp_path, fake_index.url(), clock=clock, ttl=timedelta(hours=1))
    index.releases("docker-compose")
    clock.now += timedelta(hours=2)

    listing = index.releases("docker-compose")

    assert len(fake_index.requests) == 2
    assert (listing.from_cache, listing.stale, listing.fetched_at) == (False, False, clock.now)


def test_stale_cache_is_used_when_index_is_down(
    fake_index: FakeIndex, tmp_path: Path, clock: FakeClock
) -> None:
    fake_index.serve_json("/simple/docker-compose/", COMPOSE_PAGE)
    url = fake_index.url()
    fetched = ReleaseIndex(tmp_path, url, clock=clock).releases("docker-compose")
    fake_index.stop()
    clock.now += timedelta(days=30)

    listing = ReleaseIndex(tmp_path, url, clock=clock).releases("docker-compose")

    assert (listing.from_cache, listing.stale) == (True, True)
    assert listing.fetched_at == fetched.fetched_at
    assert listing.releases == fetched.releases


def test_server_error_falls_back_to_stale_cache(
    fake_index: FakeIndex, tmp_path: Path, clock: FakeClock
) -> None:
    fake_index.serve_json("/simple/docker-compose/", COMPOSE_PAGE)
    index = ReleaseIndex(tmp_path, fake_index.url(), clock=clock)
    index.releases("docker-compose")
    fake_index.routes["/simple/docker-compose/"] = (503, "text/plain", b"maintenance")
    clock.now += timedelta(days=2)

    listing = index.releases("docker-compose")

    assert len(fake_index.requests) == 2
    assert (listing.from_cache, listing.stale) == (True, True)


def test_no_cache_and_index_down_raises_one_line_error(tmp_path: Path, clock: FakeClock) -> None:
    url = unreachable_url()
    with pytest.raises(IndexUnavailable) as caught:
        ReleaseIndex(tmp_path, url, clock=clock).releases("docker-compose")
    message = str(caught.value)
    assert "\n" not in message
    assert "docker-compose" in message
    assert url.split("/")[2] in message  # host:port
    assert not (tmp_path / "pypi").exists()


def test_server_error_without_cache_raises(fake_index: FakeIndex, tmp_path: Path) -> None:
    fake_index.routes["/simple/docker/"] = (502, "text/plain", b"bad gateway")
    with pytest.raises(IndexUnavailable, match="HTTP 502"):
        ReleaseIndex(tmp_path, fake_index.url()).releases("docker")


def test_timeout_counts_as_unavailable(fake_index: FakeIndex, tmp_path: Path) -> None:
    fake_index.hang.add("/simple/docker/")
    with pytest.raises(IndexUnavailable, match="timed out"):
        ReleaseIndex(tmp_path, fake_index.url(), timeout=0.3).releases("docker")


def test_credentials_are_sent_but_never_shown_or_stored(
    fake_index: FakeIndex, tmp_path: Path, clock: FakeClock
) -> None:
    fake_index.serve_json("/simple/docker/", page(["7.1.0"], [file("docker-7.1.0.tar.gz")]))
    index = ReleaseIndex(tmp_path, fake_index.url("alice:s3cret@"), clock=clock)
    index.releases("docker")
    assert fake_index.requests[0][1]["Authorization"].startswith("Basic ")
    assert "s3cret" not in (tmp_path / "pypi" / "docker.json").read_text()

    down = unreachable_url().replace("http://", "http://alice:s3cret@")
    with pytest.raises(IndexUnavailable) as caught:
        ReleaseIndex(tmp_path / "other", down).releases("docker")
    assert "s3cret" not in str(caught.value)
    assert "alice" not in str(caught.value)


def test_missing_package_raises_unknown_package(fake_index: FakeIndex, tmp_path: Path) -> None:
    with pytest.raises(UnknownPackage) as caught:
        ReleaseIndex(tmp_path, fake_index.url()).releases("no-such-package")
    assert "no-such-package" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_html_answer_is_a_bad_response(fake_index: FakeIndex, tmp_path: Path) -> None:
    fake_index.routes["/simple/docker/"] = (200, "text/html", b"<html><a>docker-1.0.tar.gz</a>")
    with pytest.raises(BadIndexResponse, match="PEP 691") as caught:
        ReleaseIndex(tmp_path, fake_index.url()).releases("docker")
    assert "\n" not in str(caught.value)


def test_forbidden_is_a_bad_response_not_a_fallback(fake_index: FakeIndex, tmp_path: Path) -> None:
    fake_index.routes["/simple/docker/"] = (403, "text/plain", b"no")
    with pytest.raises(BadIndexResponse, match="HTTP 403"):
        ReleaseIndex(tmp_path, fake_index.url()).releases("docker")


def test_corrupt_cache_is_ignored_and_replaced(
    fake_index: FakeIndex, tmp_path: Path, clock: FakeClock
) -> None:
    fake_index.serve_json("/simple/docker-compose/", COMPOSE_PAGE)
    (tmp_path / "pypi").mkdir()
    (tmp_path / "pypi" / "docker-compose.json").write_text("{not json")

    listing = ReleaseIndex(tmp_path, fake_index.url(), clock=clock).releases("docker-compose")

    assert listing.from_cache is False
    assert json.loads((tmp_path / "pypi" / "docker-compose.json").read_text())["format"] == 1


def test_cache_of_another_index_is_not_used(
    fake_index: FakeIndex, tmp_path: Path, clock: FakeClock
) -> None:
    fake_index.serve_json("/simple/docker-compose/", COMPOSE_PAGE)
    ReleaseIndex(tmp_path, fake_index.url(), clock=clock).releases("docker-compose")
    with pytest.raises(IndexUnavailable):
        ReleaseIndex(tmp_path, unreachable_url(), clock=clock).releases("docker-compose")


def test_invalid_package_name_is_rejected_before_any_request(
    fake_index: FakeIndex, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="package name"):
        ReleaseIndex(tmp_path, fake_index.url()).releases("../etc/passwd")
    assert fake_index.requests == []


def test_injected_client_is_used(fake_index: FakeIndex, tmp_path: Path, clock: FakeClock) -> None:
    fake_index.serve_json("/simple/docker-compose/", COMPOSE_PAGE)
    with httpx.Client(headers={"X-Probe": "yes"}) as client:
        ReleaseIndex(tmp_path, fake_index.url(), client=client, clock=clock).releases(
            "docker-compose"
        )
    assert fake_index.requests[0][1]["X-Probe"] == "yes"


@pytest.mark.network
def test_real_index_lists_docker_compose(tmp_path: Path) -> None:
    listing = ReleaseIndex(tmp_path).releases("docker-compose")
    by_text = {r.text: r for r in listing.releases}
    assert listing.from_cache is False
    assert "1.29.2" in by_text
    uploaded = by_text["1.20.0"].uploaded
    assert (uploaded.year, uploaded.month) == (2018, 3)
