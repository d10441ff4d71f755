"""The recording relay and the parsing of what it captured.

The relay is tested end to end against a small engine-like HTTP server on a unix socket that the
test starts itself, and once against the real Docker CLI and engine.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import http.client
import http.server
import io
import json
import lzma
import os
import shutil
import socket
import socketserver
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from harness.core.httpcapture import CapturedBuild, build_contexts, contexts_in
from harness.core.tardiff import read_entries
from harness.edges.builders import find_cli
from harness.edges.engine import Engine
from harness.edges.recorder import RecordingProxy, SocketPathTooLong

BUILD_TARGET = "/v1.41/build?t=cbp%3Atest&dockerfile=Dockerfile&buildargs=%7B%7D&q="


def _context_tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, content in (
            ("Dockerfile", b"FROM scratch\nADD blah.txt /\n"),
            ("blah.txt", b"blah"),
        ):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.uid, info.gid, info.uname = (
                len(content),
                0o644,
                1000,
                1000,
                "dev",
            )
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


TAR = _context_tar()


def _request(method: str, target: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return f"{method} {target} HTTP/1.1\r\nHost: docker\r\n{head}\r\n".encode() + body


def _chunked(*pieces: bytes, extension: str = "", trailers: str = "") -> bytes:
    encoded = b"".join(b"%x%s\r\n%s\r\n" % (len(p), extension.encode(), p) for p in pieces)
    return encoded + b"0\r\n" + trailers.encode() + b"\r\n"


def _post_build(body: bytes, target: str = BUILD_TARGET, **headers: str) -> bytes:
    headers = {"Content-Type": "application/x-tar", "Content-Length": str(len(body)), **headers}
    return _request("POST", target, headers, body)


# --- parsing captured bytes ------------------------------------------------------------------


def test_a_content_length_build_is_parsed_with_query_and_headers() -> None:
    [build] = build_contexts(_post_build(TAR, **{"X-Registry-Config": "e30="}))
    assert build.path == BUILD_TARGET
    assert build.query["t"] == ["cbp:test"]
    assert build.query["dockerfile"] == ["Dockerfile"]
    assert build.query["q"] == [""]
    assert build.headers["content-type"] == "application/x-tar"
    assert build.headers["x-registry-config"] == "e30="
    assert build.body == TAR
    assert read_entries(build.body)["blah.txt"].uid == 1000


def test_a_chunked_build_with_extensions_and_trailers_is_dechunked() -> None:
    body = _chunked(
        TAR[:700],
        TAR[700:1500],
        TAR[1500:],
        extension=";name=value",
        trailers="X-Checksum: abc\r\nX-Other: 1\r\n",
    )
    stream = (
        _request("POST", BUILD_TARGET, {"Transfer-Encoding": "chunked"}, body)
        + _request("POST", "/build?t=next", {"Transfer-Encoding": "chunked"}, _chunked(b"x"))
        + _request("GET", "/v1.41/version", {})
    )
    assert [(b.path, b.body) for b in build_contexts(stream)] == [
        (BUILD_TARGET, TAR),
        ("/build?t=next", b"x"),
    ]


@pytest.mark.parametrize(
    "compress", [gzip.compress, bz2.compress, lzma.compress], ids=["gzip", "bzip2", "xz"]
)
def test_a_compressed_context_is_decompressed_by_magic(compress: Callable[[bytes], bytes]) -> None:
    compressed = compress(TAR)
    [build] = build_contexts(
        _post_build(compressed, **{"Content-Type": "application/tar", "Content-Encoding": "gzip"})
    )
    assert build.body == TAR


def test_a_corrupt_compressed_context_is_an_error_not_a_silent_tar() -> None:
    with pytest.raises(ValueError, match="does not decompress"):
        build_contexts(_post_build(gzip.compress(TAR)[:-20]))


def test_keep_alive_requests_are_parsed_in_order_and_other_bodies_skipped() -> None:
    decoy = _post_build(b"not this one")  # a request-shaped body must not be parsed as one
    stream = (
        _request("GET", "/_ping", {})
        + _request("POST", "/v1.41/containers/create", {"Content-Length": str(len(decoy))}, decoy)
        + _request("POST", "/v1.41/build/prune", {"Content-Length": "2"}, b"{}")
        + _post_build(TAR)
        + b"\r\n"
        + _post_build(b"", target="/build?t=second")
    )
    builds = build_contexts(stream)
    assert [b.path for b in builds] == [BUILD_TARGET, "/build?t=second"]
    assert [b.body for b in builds] == [TAR, b""]


@pytest.mark.parametrize(
    "switch",
    [
        _request(
            "POST",
            "/v1.41/containers/abc/attach?stream=1",
            {"Connection": "Upgrade", "Upgrade": "tcp"},
        ),
        _request("POST", "/v1.41/exec/abc/start", {"Content-Length": "2"}, b"{}"),
        _request("GET", "/v1.41/anything", {"Connection": "keep-alive, Upgrade", "Upgrade": "h2c"}),
        _request("POST", "/session", {}),
    ],
    ids=["attach-upgrade", "exec-start", "upgrade-header", "session"],
)
def test_parsing_stops_after_a_protocol_switch(switch: bytes) -> None:
    stream = _post_build(TAR) + switch + _post_build(TAR, target="/v1.41/build?t=after")
    assert [b.path for b in build_contexts(stream)] == [BUILD_TARGET]


@pytest.mark.parametrize(
    "tail",
    [
        _post_build(TAR)[:-1],
        _request("POST", BUILD_TARGET, {"Transfer-Encoding": "chunked"}, _chunked(TAR)[:-2]),
        _request("POST", BUILD_TARGET, {"Transfer-Encoding": "chunked"}, b"400\r\n" + TAR[:10]),
        _post_build(TAR)[:30],
        b"POST /v1.41/build HTTP/1.1\r\nContent-Le",
    ],
    ids=["content-length", "chunked-trailers", "chunked-data", "head", "header-name"],
)
def test_a_truncated_last_request_is_left_out(tail: bytes) -> None:
    builds = build_contexts(_post_build(b"complete", target="/build?t=first") + tail)
    assert [(b.path, b.body) for b in builds] == [("/build?t=first", b"complete")]


@pytest.mark.parametrize(
    "garbage",
    [
        b"NOT HTTP AT ALL\r\n\r\n",
        _request("POST", "/build", {"Transfer-Encoding": "chunked"}, b"zz\r\n"),
        _request("POST", "/build", {"Transfer-Encoding": "gzip"}, b"x"),
        _request("POST", "/build", {"Content-Length": "-1"}),
    ],
)
def test_unframeable_bytes_end_parsing_without_guessing(garbage: bytes) -> None:
    stream = _post_build(b"ok", target="/build?t=first") + garbage + _post_build(TAR)
    assert [b.path for b in build_contexts(stream)] == ["/build?t=first"]


def test_contexts_in_reads_captures_in_connection_order(tmp_path: Path) -> None:
    for number in (10, 2, 1):
        target = f"/build?t=conn{number}"
        (tmp_path / f"conn-{number}.bin").write_bytes(_post_build(b"", target=target))
    (tmp_path / "conn-x.bin").write_bytes(_post_build(b"", target="/build?t=stray"))
    builds = contexts_in(tmp_path)
    assert [b.query["t"] for b in builds] == [["conn1"], ["conn2"], ["conn10"]]


# --- the relay, end to end -------------------------------------------------------------------


def _reply(body: bytes) -> bytes:
    """An engine-like streamed build reply that proves what the upstream received."""
    digest = hashlib.sha256(body).hexdigest()
    lines = [{"stream": "Step 1/2 : FROM scratch\n"}, {"received": digest}]
    payload = b"".join(json.dumps(line).encode() + b"\r\n" for line in lines)
    return (
        b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(payload), payload)
    )


class _EngineLike(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.wfile.write(_reply(b""))

    def do_POST(self) -> None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while size := int(self.rfile.readline().split(b";")[0], 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b""):
                pass
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.wfile.write(_reply(body))

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet, and unix peers have no address to print


class _ReadsToEnd(socketserver.StreamRequestHandler):
    """Answers only once the client has half-closed: only a relay that passes EOF on works."""

    def handle(self) -> None:
        self.wfile.write(_reply(self.rfile.read()))


class _Upstream(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    block_on_close = True  # server_close() waits for every handler thread


@contextmanager
def _serving(socket_path: Path, handler: type[socketserver.BaseRequestHandler]) -> Iterator[str]:
    server = _Upstream(str(socket_path), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"unix://{socket_path}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A short private dir: AF_UNIX paths must stay under ~108 bytes."""
    path = Path(tempfile.mkdtemp(prefix="cbp-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def upstream(short_dir: Path) -> Iterator[str]:
    with _serving(short_dir / "up.sock", _EngineLike) as host:
        yield host


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, socket_path: Path) -> None:
        super().__init__("docker", timeout=10)
        self.socket_path = socket_path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(str(self.socket_path))


def _proxy_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("recording-proxy")]


def test_a_chunked_build_passes_through_unchanged_and_is_captured(
    upstream: str, short_dir: Path
) -> None:
    pieces = [TAR[:500], TAR[500:2000], TAR[2000:]]
    with RecordingProxy(upstream, short_dir / "p.sock", short_dir / "cap") as proxy:
        assert proxy.host == f"unix://{short_dir / 'p.sock'}"
        connection = _UnixHTTPConnection(short_dir / "p.sock")
        connection.request("GET", "/_ping")
        ping = connection.getresponse()
        assert (ping.status, ping.read()) == (200, _reply(b"").split(b"\r\n\r\n", 1)[1])
        connection.request(
            "POST", BUILD_TARGET, body=iter(pieces), headers={"Content-Type": "application/x-tar"}
        )
        response = connection.getresponse()
        body = response.read()
        connection.close()
    expected_body = _reply(TAR).split(b"\r\n\r\n", 1)[1]
    assert response.status == 200
    assert response.getheader("Api-Version") == "1.41"
    assert body == expected_body
    assert hashlib.sha256(TAR).hexdigest() in body.decode()  # the upstream got the tar intact
    assert not (short_dir / "p.sock").exists()
    assert _proxy_threads() == []
    [build] = contexts_in(short_dir / "cap")
    assert build.headers["transfer-encoding"] == "chunked"
    assert (build.path, build.body) == (BUILD_TARGET, TAR)
    assert read_entries(build.body)["blah.txt"].uname == "dev"


def test_a_half_close_is_passed_on_and_the_reply_comes_back_byte_for_byte(
    short_dir: Path,
) -> None:
    request = _post_build(gzip.compress(TAR), Connection="close")
    with (
        _serving(short_dir / "eof.sock", _ReadsToEnd) as upstream,
        RecordingProxy(upstream, short_dir / "p.sock", short_dir / "cap"),
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client,
    ):
        client.settimeout(10)
        client.connect(str(short_dir / "p.sock"))
        client.sendall(request)
        client.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := client.recv(4096):
            received += chunk
    assert received == _reply(request)
    assert (short_dir / "cap" / "conn-0001.bin").read_bytes() == request
    assert [b.body for b in contexts_in(short_dir / "cap")] == [TAR]


def test_each_connection_gets_its_own_numbered_capture(upstream: str, short_dir: Path) -> None:
    with RecordingProxy(upstream, short_dir / "p.sock", short_dir / "cap"):
        for tag in ("one", "two"):
            connection = _UnixHTTPConnection(short_dir / "p.sock")
            connection.request("POST", f"/v1.41/build?t={tag}", body=TAR)
            connection.getresponse().read()
            connection.close()
    assert sorted(p.name for p in (short_dir / "cap").iterdir()) == [
        "conn-0001.bin",
        "conn-0002.bin",
    ]
    builds: list[CapturedBuild] = contexts_in(short_dir / "cap")
    assert [(b.query["t"], b.body) for b in builds] == [(["one"], TAR), (["two"], TAR)]


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.mark.filterwarnings("error")  # a socket left for the collector to close fails too
def test_close_cuts_idle_connections_promptly_and_leaks_nothing(short_dir: Path) -> None:
    before = _open_fds()
    with ExitStack() as stack:  # unwinds proxy, clients, upstream: in that order, even on failure
        upstream = stack.enter_context(_serving(short_dir / "up.sock", _EngineLike))
        idle = [stack.enter_context(socket.socket(socket.AF_UNIX)) for _ in range(3)]
        proxy = stack.enter_context(RecordingProxy(upstream, short_dir / "p.sock", short_dir / "c"))
        for client in idle:
            client.settimeout(10)
            client.connect(str(short_dir / "p.sock"))
        used = idle[-1]  # one that has talked, the others never said a word
        used.sendall(b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n")
        assert used.recv(4096).startswith(b"HTTP/1.1 200 OK")
        deadline = time.monotonic() + 5
        while len(_proxy_threads()) < 1 + 2 * len(idle) and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
        proxy.close()
        assert time.monotonic() - started < 2
        assert _proxy_threads() == []
        assert not (short_dir / "p.sock").exists()
        assert [c.recv(10) for c in idle] == [b"", b"", b""]  # the relay hung up on them
        proxy.close()  # a second close is harmless
    assert _open_fds() == before


def test_an_unreachable_engine_closes_the_client_connection(short_dir: Path) -> None:
    nobody = f"unix://{short_dir}/nobody.sock"
    with (
        RecordingProxy(nobody, short_dir / "p.sock", short_dir / "c"),
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client,
    ):
        client.settimeout(10)
        client.connect(str(short_dir / "p.sock"))
        client.sendall(b"GET /_ping HTTP/1.1\r\n\r\n")
        try:
            answer = client.recv(10)
        except ConnectionResetError:
            answer = b""
    assert answer == b""
    assert _proxy_threads() == []


@pytest.mark.parametrize("upstream_host", ["tcp://127.0.0.1:2375", "ssh://host", "/no/scheme"])
def test_only_unix_engines_are_relayed(upstream_host: str, short_dir: Path) -> None:
    with pytest.raises(ValueError, match=r"only unix://"):
        RecordingProxy(upstream_host, short_dir / "p.sock", short_dir / "c")


def test_a_socket_path_too_long_for_af_unix_is_refused(short_dir: Path) -> None:
    with pytest.raises(SocketPathTooLong, match="set TMPDIR to a shorter folder") as caught:
        RecordingProxy("unix:///x.sock", short_dir / ("s" * 120), short_dir / "c")
    assert "\n" not in str(caught.value)


def test_an_existing_socket_file_is_not_taken_over(upstream: str, short_dir: Path) -> None:
    occupied = Path(upstream.removeprefix("unix://"))
    with pytest.raises(OSError), RecordingProxy(upstream, occupied, short_dir / "c"):
        pass
    assert occupied.exists()
    assert _proxy_threads() == []


@pytest.mark.engine
def test_the_real_docker_cli_works_through_the_proxy(engine: Engine, short_dir: Path) -> None:
    cli = find_cli()
    env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "DOCKER_CONTEXT")}
    with RecordingProxy(engine.host, short_dir / "p.sock", short_dir / "cap") as proxy:
        completed = subprocess.run(
            [cli.path, "--host", proxy.host, "version", "--format", "{{.Server.APIVersion}}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == engine.info.api_version
    captured = b"".join(p.read_bytes() for p in sorted((short_dir / "cap").glob("conn-*.bin")))
    assert b"GET /v" in captured
    assert _proxy_threads() == []
