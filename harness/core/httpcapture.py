"""The build requests in what a Docker client sent on one connection, bodies decoded.

:mod:`harness.edges.recorder` keeps the raw bytes; this module reads them the way the engine does:
sequential keep-alive requests framed by ``Content-Length`` or ``Transfer-Encoding: chunked``,
and a build context compressed or not, told apart by its magic bytes (the engine ignores
``Content-Type``: docker-py says ``application/tar``, the CLI ``application/x-tar``). Pure: no
I/O except :func:`contexts_in`, which reads a capture directory.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

_BUILD_PATH = re.compile(r"(/v\d+(\.\d+)*)?/build")
# Endpoints the engine hijacks: after them the connection no longer carries HTTP requests.
_HIJACKED_PATH = re.compile(
    r"(/v\d+(\.\d+)*)?/(containers/[^/]+/attach(/ws)?|exec/[^/]+/start|session|grpc)"
)
_CHUNK_SIZE = re.compile(rb"[0-9a-fA-F]+")
_CAPTURE_NAME = re.compile(r"conn-(\d+)\.bin")


@dataclass(frozen=True)
class CapturedBuild:
    """One ``POST /build`` as sent: target with query, headers by lower-case name (repeated
    headers joined with ", "), and the context tar, de-chunked and decompressed."""

    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


class _Incomplete(Exception):
    """The stream ends inside this request."""


class _Malformed(Exception):
    """Not HTTP we can frame: nothing after this point can be trusted."""


@dataclass(frozen=True)
class _Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    end: int


def build_contexts(stream: bytes) -> list[CapturedBuild]:
    """Every complete build request in one connection's client bytes, in order.

    Parsing stops at a truncated or unframeable request and after a request that switches the
    connection to another protocol (an upgrade or a hijacked endpoint such as attach).
    """
    builds: list[CapturedBuild] = []
    position = 0
    while True:
        position = _skip_empty_lines(stream, position)
        if position >= len(stream):
            break
        try:
            request = _read_request(stream, position)
        except (_Incomplete, _Malformed):
            break
        if _is_build(request):
            builds.append(
                CapturedBuild(
                    path=request.target,
                    query=parse_qs(urlsplit(request.target).query, keep_blank_values=True),
                    headers=request.headers,
                    body=_decompressed(request.body, request.target),
                )
            )
        if _switches_protocol(request):
            break
        position = request.end
    return builds


def contexts_in(capture_dir: Path) -> list[CapturedBuild]:
    """The builds of every ``conn-<n>.bin`` in ``capture_dir``, in connection order."""
    numbered: list[tuple[int, Path]] = []
    for capture in capture_dir.glob("conn-*.bin"):
        match = _CAPTURE_NAME.fullmatch(capture.name)
        if match:
            numbered.append((int(match.group(1)), capture))
    return [
        build for _, capture in sorted(numbered) for build in build_contexts(capture.read_bytes())
    ]


def _skip_empty_lines(stream: bytes, position: int) -> int:
    """Servers ignore CRLFs before a request line (RFC 9112 §2.2); so do we."""
    while stream.startswith(b"\r\n", position):
        position += 2
    return position


def _read_request(stream: bytes, start: int) -> _Request:
    head_end = stream.find(b"\r\n\r\n", start)
    if head_end < 0:
        raise _Incomplete
    request_line, *header_lines = stream[start:head_end].decode("latin-1").split("\r\n")
    parts = request_line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise _Malformed
    headers = _parse_headers(header_lines)
    body, end = _read_body(stream, head_end + 4, headers)
    return _Request(parts[0], parts[1], headers, body, end)


def _parse_headers(lines: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    last = ""
    for line in lines:
        if line[:1] in (" ", "\t") and last:  # obsolete line folding continues the last value
            headers[last] = f"{headers[last]} {line.strip()}"
            continue
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise _Malformed
        last = name.lower()
        value = value.strip()
        headers[last] = f"{headers[last]}, {value}" if last in headers else value
    return headers


def _read_body(stream: bytes, start: int, headers: dict[str, str]) -> tuple[bytes, int]:
    """A request's body and where the next request starts (RFC 9112 §6.3 framing)."""
    if "transfer-encoding" in headers:
        codings = [c.strip().lower() for c in headers["transfer-encoding"].split(",")]
        if codings[-1] != "chunked":
            raise _Malformed  # a request body's length would be unknowable
        return _dechunk(stream, start)
    if "content-length" in headers:
        lengths = {value.strip() for value in headers["content-length"].split(",")}
        if len(lengths) != 1 or not (length_text := lengths.pop()).isdigit():
            raise _Malformed
        end = start + int(length_text)
        if end > len(stream):
            raise _Incomplete
        return stream[start:end], end
    return b"", start


def _dechunk(stream: bytes, position: int) -> tuple[bytes, int]:
    chunks: list[bytes] = []
    while True:
        line_end = stream.find(b"\r\n", position)
        if line_end < 0:
            raise _Incomplete
        size_text = stream[position:line_end].split(b";", 1)[0].strip()  # drop extensions
        if not _CHUNK_SIZE.fullmatch(size_text):
            raise _Malformed
        size = int(size_text, 16)
        position = line_end + 2
        if size == 0:
            break
        if position + size + 2 > len(stream):
            raise _Incomplete
        if stream[position + size : position + size + 2] != b"\r\n":
            raise _Malformed
        chunks.append(stream[position : position + size])
        position += size + 2
    while True:  # trailer fields, up to an empty line
        line_end = stream.find(b"\r\n", position)
        if line_end < 0:
            raise _Incomplete
        empty = line_end == position
        position = line_end + 2
        if empty:
            return b"".join(chunks), position


def _is_build(request: _Request) -> bool:
    return request.method == "POST" and bool(_BUILD_PATH.fullmatch(urlsplit(request.target).path))


def _switches_protocol(request: _Request) -> bool:
    """We never see the replies, so an upgrade request ends what we can parse, granted or not."""
    connection = {
        token.strip().lower() for token in request.headers.get("connection", "").split(",")
    }
    return (
        "upgrade" in connection
        or "upgrade" in request.headers
        or bool(_HIJACKED_PATH.fullmatch(urlsplit(request.target).path))
    )


def _decompressed(body: bytes, target: str) -> bytes:
    """The tar inside, by the same magic bytes the engine's DecompressStream checks (so a
    plain tar whose first name starts with "BZh" is read as bzip2 there and here alike)."""
    try:
        if body.startswith(b"\x1f\x8b\x08"):
            return gzip.decompress(body)
        if body.startswith(b"BZh"):
            return bz2.decompress(body)
        if body.startswith(b"\xfd7zXZ\x00"):
            return lzma.decompress(body)
    except (OSError, EOFError, ValueError, lzma.LZMAError, zlib.error) as error:
        raise ValueError(
            f"the build context sent to {target} does not decompress: {error}"
        ) from error
    return body
