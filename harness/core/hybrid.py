"""Hybrid build contexts and build requests for proving which difference made a step miss.

Explain diffs what two clients sent; to *prove* which difference matters, the harness rebuilds
the first client's captured context with some differences set to the second client's values
and asks the engine whether the diverged step now gets the second client's image. This module
makes those hybrid tars, says which paths the engine itself strips from a context (so a
difference there can never matter), and lists how the two build requests differ outside the
context. Pure: bytes in, bytes or facts out.
"""

from __future__ import annotations

import copy
import io
import posixpath
import re
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.core.errors import RemoteError
from harness.core.httpcapture import CapturedBuild
from harness.core.tardiff import Difference, normalize_path, open_context, record_key

# Header fields a change sets on the member (tardiff's field name -> TarInfo attribute); the
# PAX record of the same field is dropped, since a stale record would win when read.
_HEADER = {
    "name": ("name", "path"),
    "mode": ("mode", None),
    "uid": ("uid", "uid"),
    "gid": ("gid", "gid"),
    "uname": ("uname", "uname"),
    "gname": ("gname", "gname"),
    "linkname": ("linkname", "linkpath"),
    "devmajor": ("devmajor", None),
    "devminor": ("devminor", None),
}
# Changes that take the other member's content (size follows the content).
_CONTENT = ("digest", "size")
# Changes that take the other member whole (header and content).
_WHOLE = ("type", "present")
CHANGEABLE = frozenset({*_HEADER, *_CONTENT, *_WHOLE})


def changeable(field: str) -> bool:
    """A header or content field, or a PAX record (an xattr among them)."""
    return field in CHANGEABLE or record_key(field) is not None


# Request parts that are framing, not build parameters.
_FRAMING_HEADERS = frozenset(
    {"content-length", "transfer-encoding", "connection", "host", "expect", "accept-encoding"}
)
# Query parameters the probe sets itself: no tag (never take a user's or builder's name), and
# intermediate containers always removed.
_PROBE_QUERY = {"rm": ["1"], "forcerm": ["1"]}
_DROPPED_QUERY = ("t",)
# Where the Dockerfile lies in each client's own context (a generated `.dockerfile.<random>`
# for one outside the context): the other client's name is not in this context, and the cache
# key reads the Dockerfile's steps, which the context diff already compares.
_NOT_REPLAYED_QUERY = frozenset({"dockerfile"})
_API_PREFIX = re.compile(r"^/v(\d+(?:\.\d+)*)/")


class HybridError(RemoteError):
    """A change cannot be applied to this context (the path or field is not there)."""


def tar_format(tar_bytes: bytes) -> int:
    """GNU or POSIX (written as PAX), from the first header's magic: a GNU tar stays GNU."""
    return tarfile.GNU_FORMAT if tar_bytes[257:265] == b"ustar  \0" else tarfile.PAX_FORMAT


def hybrid_context(base: bytes, other: bytes, changes: Iterable[tuple[str, str]]) -> bytes:
    """``base`` with each ``(path, field)`` change set to ``other``'s value.

    Fields are tardiff's: a header field (name, mode, uid, gid, uname, gname, linkname, device
    numbers) is set on the member; a PAX record (``xattr:NAME``, ``pax:KEY``) is set to the
    other member's record or removed; ``digest``/``size`` take the other member's content;
    ``type`` takes the other member whole; ``present`` drops the member (absent in ``other``)
    or appends the other's member (absent in ``base``). Member order, every other member and
    field, and PAX records are kept, so an empty change set rebuilds what the client sent. A
    GNU tar stays GNU unless a record must be written (GNU headers cannot carry one).
    """
    wanted: dict[str, set[str]] = {}
    for path, field in changes:
        if not changeable(field):
            raise HybridError(f"cannot apply a {field!r} difference")
        wanted.setdefault(path, set()).add(field)
    records = any(record_key(field) for fields in wanted.values() for field in fields)
    theirs = _members(other)
    members: list[tuple[tarfile.TarInfo, bytes | None]] = []
    seen: set[str] = set()
    with open_context(base) as source:
        for member in source:
            path = normalize_path(member.name)
            seen.add(path)
            fields = wanted.get(path, set())
            content = _content(source, member)
            if "present" in fields:
                continue  # only in base: applying the other side's absence drops it
            if "type" in fields:
                member, content = _their(theirs, path)
            else:
                member = _with_header(member, theirs, path, fields)
                if fields & set(_CONTENT):
                    content = _their(theirs, path)[1]
                    member.size = len(content or b"")
            members.append((member, content))
    for path, fields in wanted.items():
        if path in seen:
            continue
        if "present" not in fields:
            raise HybridError(f"{path} is not in the context to change its {min(fields)}")
        members.append(_their(theirs, path))
    out = io.BytesIO()
    with tarfile.open(
        fileobj=out, mode="w", format=tarfile.PAX_FORMAT if records else tar_format(base)
    ) as target:
        for member, content in links_after_targets(members):
            target.addfile(member, io.BytesIO(content) if content is not None else None)
    return out.getvalue()


def links_after_targets(
    members: list[tuple[tarfile.TarInfo, bytes | None]],
) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    """The members in their order, but each hard link moved to just after the member it
    links to when that comes later: an extractor makes a hard link from a file it already
    wrote. A client never sends a link first; a hybrid does when it takes the other client's
    choice of which member of a pair is the link (the CLI and docker-py walk in different
    orders). The cache key reads each member by path, not the order they come in."""
    ordered = list(members)
    for member, content in members:
        if not member.islnk():
            continue
        paths = [normalize_path(m.name) for m, _ in ordered]
        target = normalize_path(member.linkname)
        here = paths.index(normalize_path(member.name))
        if target in paths and paths.index(target) > here:
            ordered.pop(here)
            ordered.insert(paths.index(target), (member, content))  # just after it
    return ordered


def _members(tar_bytes: bytes) -> dict[str, tuple[tarfile.TarInfo, bytes | None]]:
    """Every member with its content, by normalized path (the last of a repeated path)."""
    members: dict[str, tuple[tarfile.TarInfo, bytes | None]] = {}
    with open_context(tar_bytes) as archive:
        for member in archive:
            members[normalize_path(member.name)] = (member, _content(archive, member))
    return members


def _content(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes | None:
    if not member.isreg():
        return None
    data = archive.extractfile(member)
    assert data is not None  # a regular member always has content
    return data.read()


def _their(
    theirs: Mapping[str, tuple[tarfile.TarInfo, bytes | None]], path: str
) -> tuple[tarfile.TarInfo, bytes | None]:
    if path not in theirs:
        raise HybridError(f"{path} is not in the other context")
    member, content = theirs[path]
    return _copy(member), content


class _RawModeInfo(tarfile.TarInfo):
    """A member written with its mode exactly as given, file-type bits included.

    Python's tarfile masks the mode to 0o7777 when it writes a header, but Go clients before
    Go 1.19's archive/tar change (the 20.10 CLI among them) send 0o100644 for a file, and the
    legacy builder's cache key reads the whole field: a hybrid must be able to carry it.
    """

    __slots__ = ()

    def tobuf(self, *args: Any, **kwargs: Any) -> bytes:
        buf = super().tobuf(*args, **kwargs)
        if self.mode <= 0o7777:
            return buf
        header = bytearray(buf[-tarfile.BLOCKSIZE :])  # the member's own header comes last
        header[100:108] = b"%07o\0" % self.mode
        header[148:156] = b" " * 8
        header[148:155] = b"%06o\0" % sum(header)
        return buf[: -tarfile.BLOCKSIZE] + bytes(header)


def _copy(member: tarfile.TarInfo) -> tarfile.TarInfo:
    info = copy.copy(member)
    info.__class__ = _RawModeInfo
    info.pax_headers = dict(member.pax_headers)
    return info


def _with_header(
    member: tarfile.TarInfo,
    theirs: Mapping[str, tuple[tarfile.TarInfo, bytes | None]],
    path: str,
    fields: set[str],
) -> tarfile.TarInfo:
    info = _copy(member)
    header_fields = fields & set(_HEADER)
    record_fields = {field for field in fields if record_key(field)}
    if not header_fields and not record_fields:
        return info
    other, _ = _their(theirs, path)
    records = dict(info.pax_headers)
    for field in record_fields:
        key = record_key(field)
        assert key is not None  # record_fields holds record fields only
        if key in other.pax_headers:
            records[key] = other.pax_headers[key]
        else:
            records.pop(key, None)
    for field in header_fields:
        attribute, record = _HEADER[field]
        value = getattr(other, attribute)
        if field == "name":
            value = str(value).rstrip("/") if info.isdir() else value  # tarfile adds the "/"
        setattr(info, attribute, value)
        if record:
            records.pop(record, None)
    info.pax_headers = records
    return info


# --- what the engine strips ------------------------------------------------------------------


def engine_stripped(tar_bytes: bytes, dockerfile: str = "Dockerfile") -> frozenset[str]:
    """The paths the legacy builder removes from this context before any step reads it.

    The engine reads the context's ``.dockerignore`` and removes ``.dockerignore`` and the
    Dockerfile (the request's ``dockerfile``) when its patterns exclude them; everything else
    a .dockerignore names is the client's business. Same pattern rules as the engine's
    ``dockerignore.ReadAll`` and ``fileutils.Matches``.
    """
    patterns: list[str] | None = None
    with open_context(tar_bytes) as archive:
        for member in archive:
            if normalize_path(member.name) == ".dockerignore" and member.isreg():
                patterns = read_dockerignore(_content(archive, member) or b"")
    if patterns is None:
        return frozenset()
    candidates = (".dockerignore", normalize_path(dockerfile or "Dockerfile"))
    return frozenset(path for path in candidates if dockerignore_matches(path, patterns))


def read_dockerignore(data: bytes) -> list[str]:
    """The patterns as the engine reads them: comments dropped, whitespace trimmed, paths
    cleaned, a leading "/" removed, "!" kept."""
    patterns: list[str] = []
    for number, raw in enumerate(data.split(b"\n")):
        if number == 0:
            raw = raw.removeprefix(b"\xef\xbb\xbf")
        line = raw.decode("utf-8", "replace")
        if line.startswith("#"):
            continue
        line = line.strip()
        if not line:
            continue
        invert = line.startswith("!")
        if invert:
            line = line[1:].strip()
        if line:
            line = posixpath.normpath(line)
            if len(line) > 1 and line.startswith("/"):
                line = line[1:]
        patterns.append(f"!{line}" if invert else line)
    return patterns


def dockerignore_matches(path: str, patterns: Iterable[str]) -> bool:
    """Go's ``fileutils.Matches``: the last matching pattern decides; a pattern also matches
    a file under a directory it matches."""
    path = posixpath.normpath(path)
    if path == ".":
        return False
    parent = posixpath.dirname(path) or "."
    parent_dirs = parent.split("/")
    matched = False
    for pattern in patterns:
        negative = pattern.startswith("!")
        cleaned = pattern[1:] if negative else pattern
        regex = _dockerignore_regex(cleaned)
        if regex is None:
            continue
        hit = bool(regex.match(path))
        dirs = cleaned.split("/")
        if not hit and parent != "." and len(dirs) <= len(parent_dirs):
            hit = bool(regex.match("/".join(parent_dirs[: len(dirs)])))
        if hit:
            matched = not negative
    return matched


def _dockerignore_regex(pattern: str) -> re.Pattern[str] | None:
    """The engine's pattern-to-regexp translation (``Pattern.compile``); None when the
    result does not compile, where the engine's match fails and removes nothing."""
    out = "^"
    index = 0
    while index < len(pattern):
        char = pattern[index]
        index += 1
        if char == "*":
            if pattern.startswith("*", index):
                index += 1
                if pattern.startswith("/", index):
                    index += 1
                out += ".*" if index >= len(pattern) else "(.*/)?"
            else:
                out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char in ".$":
            out += "\\" + char
        elif char == "\\":
            if index < len(pattern):
                out += "\\" + pattern[index]
                index += 1
            else:
                out += "\\\\"
        else:
            out += char
    try:
        return re.compile(out + "$", re.DOTALL)
    except re.error:
        return None


# --- the build request outside the context ---------------------------------------------------


@dataclass(frozen=True)
class RequestDifference:
    """One part of the build request that differs: ``where`` is "api", "query" or "header"."""

    where: str
    name: str
    compose: str | None
    cli: str | None


def api_version(build: CapturedBuild) -> str | None:
    match = _API_PREFIX.match(build.path)
    return match.group(1) if match else None


def request_differences(compose: CapturedBuild, cli: CapturedBuild) -> list[RequestDifference]:
    """How two build requests differ outside the context: the API version in the path, each
    query parameter (the tag aside: it names the image, never a step) and each header
    (framing aside)."""
    found: list[RequestDifference] = []
    if api_version(compose) != api_version(cli):
        found.append(RequestDifference("api", "version", api_version(compose), api_version(cli)))
    for name in sorted((compose.query.keys() | cli.query.keys()) - set(_DROPPED_QUERY)):
        left, right = _joined(compose.query.get(name)), _joined(cli.query.get(name))
        if left != right:
            found.append(RequestDifference("query", name, left, right))
    for name in sorted((compose.headers.keys() | cli.headers.keys()) - _FRAMING_HEADERS):
        left, right = compose.headers.get(name), cli.headers.get(name)
        if left != right:
            found.append(RequestDifference("header", name, left, right))
    return found


# The path of a difference in the build request rather than the context: no context path is
# empty (the context's root is ".").
REQUEST = ""


def request_changes(compose: CapturedBuild, cli: CapturedBuild) -> list[Difference]:
    """The request differences a probe can replay, as differences of the ``REQUEST`` path:
    the API version (``api:version``) and each query parameter (``query:NAME``: cachefrom,
    labels, buildargs, target, networkmode, shmsize, extrahosts, platform, ...), where the
    legacy builder reads its parameters. The tag and container removal are left out: every
    probe sets them itself, and so is the Dockerfile's name in the context. Headers
    (authentication, user agent, framing) stay informational.
    """
    found: list[Difference] = []
    for difference in request_differences(compose, cli):
        if difference.where == "api":
            found.append(Difference(REQUEST, "api:version", difference.compose, difference.cli))
        elif difference.where == "query" and difference.name not in (
            _PROBE_QUERY.keys() | _NOT_REPLAYED_QUERY
        ):
            field = f"query:{difference.name}"
            found.append(Difference(REQUEST, field, difference.compose, difference.cli))
    return found


def hybrid_request(
    base: CapturedBuild, other: CapturedBuild, fields: Iterable[str]
) -> tuple[str, dict[str, list[str]]]:
    """``base``'s request path and query with each request field (``api:version``,
    ``query:NAME``) set to ``other``'s; a parameter ``other`` did not send is dropped."""
    path = base.path
    query = {name: list(values) for name, values in base.query.items()}
    for field in fields:
        where, _, name = field.partition(":")
        if where == "api":
            version = api_version(other)
            rest = _API_PREFIX.sub("/", path, count=1)
            path = f"/v{version}{rest}" if version else rest
        elif where == "query" and name in other.query:
            query[name] = list(other.query[name])
        elif where == "query":
            query.pop(name, None)
        else:
            raise HybridError(f"cannot replay a {field!r} difference of the request")
    return path, query


def _joined(values: list[str] | None) -> str | None:
    return None if values is None else ",".join(values)


def probe_query(query: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """The client's query parameters for a probe build: no tag, intermediate containers
    removed, everything else as the client sent it."""
    kept = {name: list(values) for name, values in query.items() if name not in _DROPPED_QUERY}
    return {**kept, **_PROBE_QUERY}


def probe_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The client's headers for a probe build, framing aside (the body is sent anew)."""
    return {name: value for name, value in headers.items() if name not in _FRAMING_HEADERS}


def dockerfile_of(build: CapturedBuild) -> str:
    """The Dockerfile path the request names inside its context (the engine's default)."""
    values = build.query.get("dockerfile") or [""]
    return values[-1] or "Dockerfile"
