"""What differs between two build-context tars, limited to the paths a step reads.

The legacy builder's cache key for ``ADD``/``COPY`` hashes the tar headers of its sources
(owner, mode, names…) as well as their content. So "the cache missed at step 3" becomes
"blah.txt: uid 1000 vs 0" by comparing, field by field, the entries that step's sources match
in the context docker-compose sent against the one the CLI sent. Pure: bytes in, facts out.
"""

from __future__ import annotations

import hashlib
import io
import json
import posixpath
import re
import tarfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

# The header fields the legacy builder's cache key reads (moby's tarsum v1 header selection:
# every ustar field but mtime, plus each xattr), with the content's digest.
FIELDS = (
    "type",
    "name",
    "mode",
    "uid",
    "gid",
    "uname",
    "gname",
    "size",
    "linkname",
    "devmajor",
    "devminor",
    "digest",
)
# PAX records that only carry a header field above (or a time the key does not read): the
# field is compared instead. Every other record is a difference of its own.
HEADER_RECORDS = frozenset(
    {"path", "linkpath", "size", "uid", "gid", "uname", "gname", "mtime", "atime", "ctime",
     "hdrcharset"}
)  # fmt: skip
XATTR_RECORD = "SCHILY.xattr."
XATTR_FIELD = "xattr:"
PAX_FIELD = "pax:"

Value = str | int | bool | None
PathFilter = Callable[[str], bool]


@dataclass(frozen=True)
class TarEntry:
    """One member's header facts; ``digest`` is the sha256 of a regular file's content;
    ``records`` are its PAX records beyond the header's fields, by difference field name
    (``xattr:security.capability``: Go reads ``SCHILY.xattr.*`` as xattrs, which the cache key
    hashes; ``pax:KEY`` for any other record).

    ``path`` is the normalized context path (the key); ``name`` is the member name as written
    (``./blah.txt``, ``sub/``): the engine hashes it as written, so two names of one path can
    miss the cache."""

    path: str
    name: str
    type: str
    mode: int
    uid: int
    gid: int
    uname: str
    gname: str
    size: int
    linkname: str
    digest: str | None
    devmajor: int = 0
    devminor: int = 0
    records: tuple[tuple[str, str], ...] = ()  # other PAX records by field, sorted, readable


@dataclass(frozen=True)
class Difference:
    """One field of one path that differs; ``present`` means the path is on one side only."""

    path: str
    field: str
    compose: Value
    cli: Value

    def as_json(self) -> dict[str, Value]:
        return {
            "path": self.path,
            "field": self.field,
            "compose": _json_value(self.field, self.compose),
            "cli": _json_value(self.field, self.cli),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Difference:
        """The inverse of ``as_json``: a mode comes back from its octal text."""
        path, field = data["path"], data["field"]
        if not isinstance(path, str) or not isinstance(field, str):
            raise ValueError("a difference's path and field must be strings")
        return cls(
            path, field, _read_value(field, data["compose"]), _read_value(field, data["cli"])
        )


def normalize_path(name: str) -> str:
    """A member name as a context path: no leading "/" or "./", no trailing "/"."""
    path = name.lstrip("/")
    while path.startswith("./"):
        path = path[2:].lstrip("/")
    return path.rstrip("/") or "."


_BLOCK = 512


def as_the_engine_reads(tar_bytes: bytes) -> bytes:
    """A context tar completed as Go's archive/tar reads it: that reader stops where the
    stream ends, so a context sent without its last member's padding or the end-of-archive
    blocks (the CLI's ReplaceFileTarWrapper, with a Dockerfile from outside the context) is
    whole to the engine. Python's tarfile wants them: add what is missing (zero blocks after
    complete ones end the archive in both readers, so a complete tar reads the same)."""
    return tar_bytes + b"\0" * (-len(tar_bytes) % _BLOCK + 2 * _BLOCK)


def open_context(tar_bytes: bytes) -> tarfile.TarFile:
    """A build context opened for reading as the engine reads it (see as_the_engine_reads)."""
    return tarfile.open(fileobj=io.BytesIO(as_the_engine_reads(tar_bytes)), mode="r:")


def read_entries(tar_bytes: bytes) -> dict[str, TarEntry]:
    """Every member by normalized path; a repeated path keeps its last member, as extraction
    does."""
    entries: dict[str, TarEntry] = {}
    with open_context(tar_bytes) as archive:
        for member in archive:
            entry = _entry(archive, member, raw_name(tar_bytes, member))
            entries[entry.path] = entry
    return entries


def raw_name(tar_bytes: bytes, member: tarfile.TarInfo) -> str:
    """The member name as the archive writes it: Python drops a directory's trailing "/",
    so read the ustar header's name (and prefix) back unless a PAX ``path`` record or a GNU
    long name (a header name that is not this member's) holds the name."""
    if "path" in member.pax_headers:
        return member.pax_headers["path"]
    header = tar_bytes[member.offset_data - 512 : member.offset_data]
    name = header[:100].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
    if header[257:263] == b"ustar\0":  # POSIX ustar: a prefix field may hold the leading part
        prefix = header[345:500].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        name = f"{prefix}/{name}" if prefix else name
    return name if name.rstrip("/") == member.name.rstrip("/") else member.name


def _entry(archive: tarfile.TarFile, member: tarfile.TarInfo, name: str) -> TarEntry:
    digest = None
    if member.isreg():
        content = archive.extractfile(member)
        assert content is not None  # a regular member always has content
        digest = hashlib.sha256(content.read()).hexdigest()
    return TarEntry(
        path=normalize_path(member.name),
        name=name,
        type=_type(member),
        mode=member.mode,  # as sent: Go clients before 1.19 include the file-type bits
        uid=member.uid,
        gid=member.gid,
        uname=member.uname,
        gname=member.gname,
        size=member.size,
        linkname=member.linkname,
        digest=digest,
        devmajor=member.devmajor,
        devminor=member.devminor,
        records=tuple(sorted(pax_records(member).items())),
    )


def record_field(key: str) -> str:
    """The difference field of a PAX record key."""
    if key.startswith(XATTR_RECORD):
        return XATTR_FIELD + key.removeprefix(XATTR_RECORD)
    return PAX_FIELD + key


def record_key(field: str) -> str | None:
    """The PAX record key of a difference field, or None for a header field."""
    if field.startswith(XATTR_FIELD):
        return XATTR_RECORD + field.removeprefix(XATTR_FIELD)
    if field.startswith(PAX_FIELD):
        return field.removeprefix(PAX_FIELD)
    return None


def pax_records(member: tarfile.TarInfo) -> dict[str, str]:
    """The member's PAX records that are not a header field, by difference field, each value
    readable: text as is, anything else (a capability is binary) as hex."""
    return {
        record_field(key): _readable(value)
        for key, value in member.pax_headers.items()
        if key not in HEADER_RECORDS
    }


def _readable(value: str) -> str:
    raw = value.encode("utf-8", "surrogateescape")
    if raw.isascii() and raw.decode().isprintable():
        return raw.decode()
    return "hex:" + raw.hex()


def _type(member: tarfile.TarInfo) -> str:
    if member.isreg():
        return "file"
    if member.isdir():
        return "dir"
    if member.issym():
        return "symlink"
    if member.islnk():
        return "hardlink"
    if member.isfifo():
        return "fifo"
    if member.ischr():
        return "char-device"
    if member.isblk():
        return "block-device"
    return "other"


def diff_entries(
    compose: dict[str, TarEntry], cli: dict[str, TarEntry], paths: PathFilter | None = None
) -> list[Difference]:
    """Differences by path (sorted), then field in :data:`FIELDS` order, then PAX records
    (xattrs among them) by name; a record on one side only is ``None`` on the other."""
    differences: list[Difference] = []
    for path in sorted(compose.keys() | cli.keys()):
        if paths is not None and not paths(path):
            continue
        left, right = compose.get(path), cli.get(path)
        if left is None or right is None:
            differences.append(Difference(path, "present", left is not None, right is not None))
            continue
        for field in FIELDS:
            if getattr(left, field) != getattr(right, field):
                differences.append(
                    Difference(path, field, getattr(left, field), getattr(right, field))
                )
        ours, theirs = dict(left.records), dict(right.records)
        for field in sorted(ours.keys() | theirs.keys()):
            if ours.get(field) != theirs.get(field):
                differences.append(Difference(path, field, ours.get(field), theirs.get(field)))
    return differences


def sources_filter(instruction: str, dockerignore_free: bool = True) -> PathFilter:
    """Which context paths an instruction's result depends on.

    ``ADD``/``COPY``: the paths each source matches (Go ``filepath.Match`` globs, as the
    legacy builder uses) and everything under a matched directory; ``.`` is the whole context,
    ``--from`` and URLs are not the context at all. Any other instruction, a source with an
    unresolved ``$variable`` or a bad glob: every path, since we cannot say less.
    ``dockerignore_free=False`` (a .dockerignore may reshape the context) also means every path.
    """
    keyword, rest = [*instruction.split(None, 1), "", ""][:2]
    if keyword.upper() not in ("ADD", "COPY") or not dockerignore_free:
        return _everything
    flags, arguments = _split_flags(rest)
    if any(flag.split("=", 1)[0].lower() == "--from" for flag in flags):
        return _nothing
    if len(arguments) < 2:  # not a valid ADD/COPY: claim no knowledge
        return _everything
    matchers: list[re.Pattern[str]] = []
    for source in arguments[:-1]:
        if _is_remote(source):
            continue
        pattern = _context_pattern(source)
        if pattern is None:
            return _everything
        matchers.append(pattern)
    return lambda path: any(
        pattern.fullmatch(prefix) for pattern in matchers for prefix in _self_and_parents(path)
    )


def _everything(path: str) -> bool:
    return True


def _nothing(path: str) -> bool:
    return False


def _split_flags(text: str) -> tuple[list[str], list[str]]:
    """Leading ``--flag[=value]`` words, then the arguments (JSON array or whitespace form)."""
    flags: list[str] = []
    rest = text.strip()
    while rest.startswith("--"):
        flag, rest = [*rest.split(None, 1), ""][:2]
        flags.append(flag)
    if rest.startswith("["):
        try:
            parsed = json.loads(rest)
        except ValueError:
            parsed = None
        if isinstance(parsed, list) and all(isinstance(item, str) for item in parsed):
            return flags, parsed
    return flags, rest.split()


def _is_remote(source: str) -> bool:
    return source.startswith(("http://", "https://", "git://", "git@"))


def _context_pattern(source: str) -> re.Pattern[str] | None:
    """The source as a regex over normalized context paths; None when it can't be known."""
    if "$" in source:
        return None
    cleaned = posixpath.normpath("/" + source).lstrip("/") or "."
    if cleaned == ".":
        return re.compile(r".*", re.DOTALL)
    try:
        return re.compile(_go_glob(cleaned), re.DOTALL)
    except _BadPattern:
        return None


def _self_and_parents(path: str) -> Iterable[str]:
    parts = path.split("/")
    return ("/".join(parts[:count]) for count in range(1, len(parts) + 1))


class _BadPattern(ValueError):
    """Go's filepath.ErrBadPattern: the builder would have failed on this source."""


def _go_glob(pattern: str) -> str:
    """Go ``filepath.Match`` syntax (Unix) as a regex: ``*`` and ``?`` stop at "/",
    ``[^...]`` negates, backslash escapes."""
    out: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            regex, index = _char_class(pattern, index + 1)
            out.append(regex)
            continue
        elif char == "\\":
            index += 1
            if index >= len(pattern):
                raise _BadPattern(pattern)
            out.append(re.escape(pattern[index]))
        else:
            out.append(re.escape(char))
        index += 1
    return "".join(out)


def _char_class(pattern: str, index: int) -> tuple[str, int]:
    """The class starting after "[" as a regex, and the index after its "]"."""
    negated = pattern.startswith("^", index)
    if negated:
        index += 1
    ranges: list[str] = []
    count = 0
    while True:
        if index >= len(pattern):
            raise _BadPattern(pattern)
        if pattern[index] == "]" and count > 0:
            index += 1
            break
        low, index = _class_char(pattern, index)
        high = low
        if pattern.startswith("-", index):
            high, index = _class_char(pattern, index + 1)
        count += 1
        if low <= high:  # Go accepts an empty range; it just matches nothing
            ranges.append(f"{re.escape(low)}-{re.escape(high)}")
    if not ranges:
        return ("." if negated else "(?!)"), index
    return f"[{'^' if negated else ''}{''.join(ranges)}]", index


def _class_char(pattern: str, index: int) -> tuple[str, int]:
    if index >= len(pattern) or pattern[index] in "-]":
        raise _BadPattern(pattern)
    if pattern[index] == "\\":
        index += 1
        if index >= len(pattern):
            raise _BadPattern(pattern)
    return pattern[index], index + 1


def summarize(differences: Iterable[Difference]) -> list[str]:
    """One line per path, in first-seen order, always "compose vs cli"."""
    by_path: dict[str, list[Difference]] = {}
    for difference in differences:
        by_path.setdefault(difference.path, []).append(difference)
    lines: list[str] = []
    for path, found in by_path.items():
        for difference in found:
            if difference.field == "present":
                side = "compose's" if difference.compose else "cli's"
                lines.append(f"only in {side} context: {path}")
        fields = [
            f"{d.field} {_shown(d.field, d.compose)} vs {_shown(d.field, d.cli)}"
            for d in found
            if d.field != "present"
        ]
        if fields:
            lines.append(f"{path}: {', '.join(fields)}")
    return lines


def _read_value(field: str, value: object) -> Value:
    if value is not None and not isinstance(value, str | int | bool):
        raise ValueError(f"a difference's value must be text, a number or true/false: {value!r}")
    return int(value, 8) if field == "mode" and isinstance(value, str) else value


def _json_value(field: str, value: Value) -> Value:
    if field == "mode" and isinstance(value, int) and not isinstance(value, bool):
        return f"{value:04o}"
    return value


def _shown(field: str, value: Value) -> str:
    if value is None:
        return "none"
    if field == "mode" and isinstance(value, int):
        return f"{value:04o}"
    if field == "digest" and isinstance(value, str):
        return value[:12]
    if isinstance(value, str):
        return repr(value)
    return str(value)
