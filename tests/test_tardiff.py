"""Comparing two build contexts entry by entry, limited to what an ADD/COPY step reads."""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import io
import json
import tarfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.core.tardiff import (
    FIELDS,
    Difference,
    TarEntry,
    diff_entries,
    read_entries,
    sources_filter,
    summarize,
)


def _member(
    name: str, kind: bytes = tarfile.REGTYPE, content: bytes = b"", **attributes: object
) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = 0o644
    for key, value in attributes.items():
        setattr(info, key, value)
    if kind == tarfile.REGTYPE:
        info.size = len(content)
    return info, content


def _tar(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for info, content in members:
            archive.addfile(info, io.BytesIO(content) if info.isreg() else None)
    return buffer.getvalue()


def _entry(path: str = "blah.txt", **changes: object) -> TarEntry:
    base = TarEntry(
        path=path,
        name=path,
        type="file",
        mode=0o644,
        uid=0,
        gid=0,
        uname="",
        gname="",
        size=4,
        linkname="",
        digest=hashlib.sha256(b"blah").hexdigest(),
    )
    return dataclasses.replace(base, **changes)


# --- reading ---------------------------------------------------------------------------------


def test_read_entries_normalizes_paths_and_reads_every_field() -> None:
    tar = _tar(
        _member("./blah.txt", content=b"blah", uid=1000, gid=1001, uname="dev", gname="staff"),
        _member("/abs.txt", content=b"x", mode=0o4755),
        _member("dir/", tarfile.DIRTYPE, mode=0o755),
        _member("./dir/link", tarfile.SYMTYPE, linkname="../blah.txt"),
        _member("hard", tarfile.LNKTYPE, linkname="blah.txt"),
        _member("pipe", tarfile.FIFOTYPE),
    )
    entries = read_entries(tar)
    assert sorted(entries) == ["abs.txt", "blah.txt", "dir", "dir/link", "hard", "pipe"]
    assert entries["blah.txt"] == TarEntry(
        path="blah.txt",
        name="./blah.txt",
        type="file",
        mode=0o644,
        uid=1000,
        gid=1001,
        uname="dev",
        gname="staff",
        size=4,
        linkname="",
        digest=hashlib.sha256(b"blah").hexdigest(),
    )
    assert entries["abs.txt"].mode == 0o4755
    assert (entries["dir"].type, entries["dir"].mode, entries["dir"].digest) == ("dir", 0o755, None)
    assert (entries["dir/link"].type, entries["dir/link"].linkname) == ("symlink", "../blah.txt")
    assert (entries["hard"].type, entries["hard"].linkname) == ("hardlink", "blah.txt")
    assert entries["pipe"].type == "fifo"


def test_devices_xattrs_and_other_pax_records_are_read() -> None:
    cap = b"\x01\x00\x00\x02".decode("utf-8", "surrogateescape")
    tar = _tar(
        _member("tty", tarfile.CHRTYPE, devmajor=5, devminor=1),
        _member("disk", tarfile.BLKTYPE, devmajor=8),
        _member(
            "ping",
            content=b"p",
            pax_headers={
                "SCHILY.xattr.security.capability": cap,
                "SCHILY.xattr.user.note": "hello",
                "comment": "kept",
                "mtime": "1.5",
            },
        ),
    )
    entries = read_entries(tar)
    assert (entries["tty"].type, entries["tty"].devmajor, entries["tty"].devminor) == (
        "char-device",
        5,
        1,
    )
    assert (entries["disk"].type, entries["disk"].devmajor) == ("block-device", 8)
    assert entries["ping"].records == (
        ("pax:comment", "kept"),
        ("xattr:security.capability", "hex:01000002"),
        ("xattr:user.note", "hello"),
    )


def test_a_record_on_one_side_only_is_a_difference_with_none() -> None:
    compose = {"ping": _entry("ping", records=(("pax:comment", "x"),))}
    cli = {"ping": _entry("ping", records=(("xattr:security.capability", "hex:01"),))}
    assert diff_entries(compose, cli) == [
        Difference("ping", "pax:comment", "x", None),
        Difference("ping", "xattr:security.capability", None, "hex:01"),
    ]
    assert summarize(diff_entries(compose, cli)) == [
        "ping: pax:comment 'x' vs none, xattr:security.capability none vs 'hex:01'"
    ]


def test_a_repeated_path_keeps_its_last_member_like_extraction() -> None:
    tar = _tar(_member("a.txt", content=b"first"), _member("./a.txt", content=b"second!"))
    entry = read_entries(tar)["a.txt"]
    assert (entry.size, entry.digest) == (7, hashlib.sha256(b"second!").hexdigest())


def test_read_entries_of_a_non_tar_raises() -> None:
    with pytest.raises(tarfile.ReadError):
        read_entries(b"definitely not a tar archive" * 40)


# --- diffing ---------------------------------------------------------------------------------

_CHANGED = {
    "type": "dir",
    "name": "./blah.txt",
    "mode": 0o755,
    "uid": 1000,
    "gid": 1000,
    "uname": "dev",
    "gname": "dev",
    "size": 5,
    "linkname": "elsewhere",
    "devmajor": 1,
    "devminor": 3,
    "digest": hashlib.sha256(b"other").hexdigest(),
}


def test_every_compared_field_is_covered() -> None:
    assert tuple(_CHANGED) == FIELDS
    assert set(FIELDS) == {f.name for f in dataclasses.fields(TarEntry)} - {"path", "records"}


@pytest.mark.parametrize("field", FIELDS)
def test_each_field_on_its_own_is_one_difference(field: str) -> None:
    compose = {"blah.txt": _entry(**{field: _CHANGED[field]})}
    cli = {"blah.txt": _entry()}
    expected = Difference("blah.txt", field, _CHANGED[field], getattr(_entry(), field))
    assert diff_entries(compose, cli) == [expected]


def test_identical_contexts_have_no_differences() -> None:
    entries = {"blah.txt": _entry(), "dir": _entry("dir", type="dir", size=0, digest=None)}
    assert diff_entries(entries, dict(entries)) == []


def test_fields_come_in_the_documented_order() -> None:
    compose = {"x": _entry("x", **_CHANGED)}
    differences = diff_entries(compose, {"x": _entry("x")})
    assert [d.field for d in differences] == list(FIELDS)


def test_a_path_on_one_side_only_is_present_true_false() -> None:
    differences = diff_entries(
        {"common": _entry("common"), "node_modules/x": _entry("node_modules/x")},
        {"common": _entry("common"), "only-cli": _entry("only-cli")},
    )
    assert differences == [
        Difference("node_modules/x", "present", True, False),
        Difference("only-cli", "present", False, True),
    ]


def test_the_path_filter_limits_what_matters() -> None:
    compose = {"blah.txt": _entry(uid=1000), "other.txt": _entry("other.txt", uid=1000)}
    cli = {"blah.txt": _entry(), "other.txt": _entry("other.txt"), "extra": _entry("extra")}
    differences = diff_entries(compose, cli, paths=lambda path: path == "blah.txt")
    assert differences == [Difference("blah.txt", "uid", 1000, 0)]


def test_diff_of_real_tars_names_the_owner_of_the_seed_bug() -> None:
    compose = _tar(_member("blah.txt", content=b"blah", uid=1000, gid=1000, uname="dev"))
    cli = _tar(_member("blah.txt", content=b"blah"))
    differences = diff_entries(read_entries(compose), read_entries(cli))
    assert summarize(differences) == ["blah.txt: uid 1000 vs 0, gid 1000 vs 0, uname 'dev' vs ''"]


def test_as_json_has_exactly_the_four_keys_and_octal_modes() -> None:
    assert Difference("a", "mode", 0o644, 0o4755).as_json() == {
        "path": "a",
        "field": "mode",
        "compose": "0644",
        "cli": "4755",
    }
    assert Difference("a", "present", True, False).as_json() == {
        "path": "a",
        "field": "present",
        "compose": True,
        "cli": False,
    }
    digest = hashlib.sha256(b"x").hexdigest()
    as_json = Difference("d", "digest", digest, None).as_json()
    assert as_json == {"path": "d", "field": "digest", "compose": digest, "cli": None}
    assert json.loads(json.dumps(as_json)) == as_json


entries_strategy = st.dictionaries(
    st.sampled_from(["a", "b", "dir/c"]),
    st.builds(
        _entry,
        uid=st.sampled_from([0, 1000]),
        mode=st.sampled_from([0o644, 0o755]),
        uname=st.sampled_from(["", "dev"]),
        records=st.sampled_from([(), (("xattr:user.a", "1"),), (("pax:comment", "c"),)]),
    ),
)


@given(entries_strategy, entries_strategy)
def test_swapping_the_sides_swaps_every_difference(
    compose: dict[str, TarEntry], cli: dict[str, TarEntry]
) -> None:
    compose = {path: dataclasses.replace(entry, path=path) for path, entry in compose.items()}
    cli = {path: dataclasses.replace(entry, path=path) for path, entry in cli.items()}
    swapped = [Difference(d.path, d.field, d.cli, d.compose) for d in diff_entries(cli, compose)]
    assert diff_entries(compose, cli) == swapped
    assert (diff_entries(compose, cli) == []) == (compose == cli)


# --- which paths a step reads ----------------------------------------------------------------

_CASES = [
    ("ADD blah.txt /blah.txt", {"blah.txt": True, "blah.txt2": False, "dir/blah.txt": False}),
    ("ADD blah.txt /blah.txt", {"Dockerfile": False, ".dockerignore": False}),
    ("copy blah.txt /", {"blah.txt": True, "other": False}),
    ("COPY\tblah.txt\t/", {"blah.txt": True, "other": False}),
    ("COPY src /app", {"src": True, "src/a": True, "src/a/b.py": True, "srcx": False}),
    ("COPY src/ /app", {"src/a": True, "other/src": False}),
    ("COPY *.txt /d/", {"a.txt": True, ".txt": True, "dir/a.txt": False, "a.md": False}),
    ("COPY dir/*.py /d/", {"dir/x.py": True, "dir/sub/x.py": False, "dir/x.pyc": False}),
    ("COPY d?r /x", {"dir": True, "dir/f": True, "dr": False, "d/r": False}),
    ("COPY [ab].txt /", {"a.txt": True, "b.txt": True, "c.txt": False}),
    ("COPY [^a].txt /", {"b.txt": True, "a.txt": False}),
    ("COPY [a-c]*.txt /", {"b1.txt": True, "d.txt": False}),
    ("COPY [b-a]x /", {"ax": False, "bx": False}),
    ("COPY \\*.txt /", {"*.txt": True, "a.txt": False}),
    ("COPY * /", {"a": True, "dir/deep/file": True, "Dockerfile": True}),
    ("COPY . /app", {"a": True, "dir/deep/file": True, "Dockerfile": True, ".dockerignore": True}),
    ("COPY ./ /app", {"a": True, "dir/b": True}),
    ("ADD ./sub/../blah.txt /", {"blah.txt": True, "sub": False}),
    ("ADD /blah.txt /x", {"blah.txt": True}),
    ('COPY ["a b.txt", "c.txt", "/dst/"]', {"a b.txt": True, "c.txt": True, "a": False}),
    ('COPY --chown=1000:1000 ["a.txt", "/dst/"]', {"a.txt": True, "b.txt": False}),
    ("COPY --chown=dev:dev a.txt b.txt /dst/", {"a.txt": True, "b.txt": True, "dev": False}),
    ("ADD --chown=1 --chmod=644 a.txt /", {"a.txt": True, "b.txt": False}),
    ("COPY --from=builder /app /app", {"app": False, "app/x": False, "a": False}),
    ("ADD https://example.invalid/x.tgz local.txt /d/", {"local.txt": True, "x.tgz": False}),
    ("RUN echo hi", {"anything": True, "Dockerfile": True}),
    ("COPY $SRC /", {"anything": True}),
    ("COPY [ /x", {"anything": True}),
    ("COPY a.txt", {"anything": True}),
]


@pytest.mark.parametrize(("instruction", "expected"), _CASES)
def test_sources_filter(instruction: str, expected: dict[str, bool]) -> None:
    matches = sources_filter(instruction)
    assert {path: matches(path) for path in expected} == expected


def test_without_knowing_the_dockerignore_every_path_counts() -> None:
    matches = sources_filter("COPY a.txt /", dockerignore_free=False)
    assert matches("a.txt") and matches("unrelated")


@given(
    pattern=st.text(alphabet="ab*?", min_size=1, max_size=6),
    name=st.text(alphabet="ab.", min_size=1, max_size=6),
)
def test_simple_globs_agree_with_fnmatch_within_one_directory(pattern: str, name: str) -> None:
    if name in (".", ".."):
        return  # not a path a context tar holds
    assert sources_filter(f"COPY {pattern} /d/")(name) == fnmatch.fnmatchcase(name, pattern)


def test_filter_and_diff_together_ignore_unread_paths() -> None:
    compose = {"blah.txt": _entry(uid=1000), "node_modules/x": _entry("node_modules/x")}
    cli = {"blah.txt": _entry()}
    differences = diff_entries(compose, cli, sources_filter("ADD blah.txt /blah.txt"))
    assert differences == [Difference("blah.txt", "uid", 1000, 0)]


# --- summaries -------------------------------------------------------------------------------


def test_summarize_groups_by_path_in_compose_vs_cli_order() -> None:
    digest_a, digest_b = hashlib.sha256(b"a").hexdigest(), hashlib.sha256(b"b").hexdigest()
    differences = [
        Difference("blah.txt", "uid", 1000, 0),
        Difference("blah.txt", "gid", 1000, 0),
        Difference("blah.txt", "uname", "dev", ""),
        Difference("node_modules/x", "present", True, False),
        Difference("only-cli", "present", False, True),
        Difference("run.sh", "mode", 0o755, 0o644),
        Difference("run.sh", "digest", digest_a, digest_b),
        Difference("thing", "type", "file", "dir"),
        Difference("thing", "digest", digest_a, None),
    ]
    assert summarize(differences) == [
        "blah.txt: uid 1000 vs 0, gid 1000 vs 0, uname 'dev' vs ''",
        "only in compose's context: node_modules/x",
        "only in cli's context: only-cli",
        f"run.sh: mode 0755 vs 0644, digest {digest_a[:12]} vs {digest_b[:12]}",
        f"thing: type 'file' vs 'dir', digest {digest_a[:12]} vs none",
    ]


def test_summarize_of_nothing_is_nothing() -> None:
    assert summarize([]) == []


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
def test_raw_names_are_read_as_written(fmt: int) -> None:
    """``name`` keeps what normalizing drops: "./", a directory's "/", a long name."""
    long = "deep/" * 25 + "file.txt"  # over 100 bytes: prefix, PAX path or GNU long name
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as archive:
        for info, content in (
            _member("./blah.txt", content=b"x"),
            _member("dir", tarfile.DIRTYPE),
            _member(long, content=b"y"),
        ):
            archive.addfile(info, io.BytesIO(content) if info.isreg() else None)
    entries = read_entries(buffer.getvalue())
    assert entries["blah.txt"].name == "./blah.txt"
    assert entries["dir"].name == "dir/"  # tarfile writes a directory's slash; Python hides it
    assert entries[long].name == long
