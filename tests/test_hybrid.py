"""Hybrid contexts, what the engine strips, and the build request outside the context (pure)."""

from __future__ import annotations

import io
import tarfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.core.httpcapture import CapturedBuild
from harness.core.hybrid import (
    REQUEST,
    HybridError,
    dockerignore_matches,
    engine_stripped,
    hybrid_context,
    hybrid_request,
    links_after_targets,
    probe_headers,
    probe_query,
    read_dockerignore,
    request_changes,
    request_differences,
)
from harness.core.tardiff import diff_entries, read_entries


def _member(name: str, content: bytes = b"", kind: bytes = tarfile.REGTYPE, **attributes: object):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(content) if kind == tarfile.REGTYPE else 0
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    for key, value in attributes.items():
        setattr(info, key, value)
    return info, content


def _tar(*members: tuple[tarfile.TarInfo, bytes], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as archive:
        for info, content in members:
            archive.addfile(info, io.BytesIO(content) if info.isreg() else None)
    return buffer.getvalue()


# A capability as setcap stores it: binary, and a PAX record of its own in the CLI's tar.
CAP = b"\x01\x00\x00\x02\x00\x04\x00\x00".decode("utf-8", "surrogateescape")

COMPOSE = _tar(
    _member("Dockerfile", b"FROM x\n", uid=1000, gid=1000, uname="dev", gname="dev"),
    _member("blah.txt", b"blah\n", uid=1000, gid=1000, uname="dev", gname="dev", mode=0o664),
    _member("only-compose.txt", b"extra\n"),
    _member("sub", kind=tarfile.DIRTYPE, uid=1000),
    _member("link", kind=tarfile.SYMTYPE, linkname="blah.txt"),
    _member("changes.txt", b"old\n"),
    _member("tty", kind=tarfile.CHRTYPE, devmajor=5, devminor=0),
    _member("tagged.txt", b"t\n", pax_headers={"SCHILY.xattr.user.note": "a", "comment": "c"}),
)
CLI = _tar(
    _member("Dockerfile", b"FROM x\n"),
    _member("blah.txt", b"blah\n"),
    _member("sub", kind=tarfile.DIRTYPE),
    _member("link", kind=tarfile.SYMTYPE, linkname="elsewhere"),
    _member("changes.txt", b"new content\n"),
    _member("only-cli.txt", b"cli\n", uid=5),
    _member("tty", kind=tarfile.CHRTYPE, devmajor=4, devminor=1),
    _member("tagged.txt", b"t\n", pax_headers={"SCHILY.xattr.security.capability": CAP}),
)


def _changes(tar_bytes: bytes) -> list[tuple[str, str]]:
    return [(d.path, d.field) for d in diff_entries(read_entries(tar_bytes), read_entries(CLI))]


def test_no_change_rebuilds_the_same_context() -> None:
    assert read_entries(hybrid_context(COMPOSE, CLI, [])) == read_entries(COMPOSE)


def test_every_change_applied_gives_the_other_context() -> None:
    everything = _changes(COMPOSE)
    assert len(everything) > 10
    hybrid = hybrid_context(COMPOSE, CLI, everything)
    assert diff_entries(read_entries(hybrid), read_entries(CLI)) == []


@given(st.sets(st.sampled_from(_changes(COMPOSE))))
def test_a_subset_changes_exactly_what_it_names(chosen: set[tuple[str, str]]) -> None:
    """Applied differences disappear, the others stay as they were (size rides on content)."""
    hybrid = hybrid_context(COMPOSE, CLI, sorted(chosen))
    left = set(_changes(hybrid))
    content = {path for path, field in chosen if field in ("digest", "size")}
    expected = {
        change
        for change in _changes(COMPOSE)
        if change not in chosen and not (change[0] in content and change[1] in ("digest", "size"))
    }
    assert left == expected


def test_a_stale_pax_record_cannot_shadow_the_new_value() -> None:
    info, content = _member("blah.txt", b"x", uname="dev")
    info.pax_headers = {"uname": "dev", "comment": "kept"}
    base = _tar((info, content))
    other = _tar(_member("blah.txt", b"x", uname=""))
    hybrid = hybrid_context(base, other, [("blah.txt", "uname")])
    with tarfile.open(fileobj=io.BytesIO(hybrid)) as archive:
        member = archive.getmember("blah.txt")
        assert member.uname == ""
        assert member.pax_headers.get("comment") == "kept"


def test_the_raw_member_name_is_a_change_of_its_own() -> None:
    base = _tar(_member("./blah.txt", b"x"))
    other = _tar(_member("blah.txt", b"x"))
    assert _fields(base, other) == [("blah.txt", "name")]
    hybrid = hybrid_context(base, other, [("blah.txt", "name")])
    assert _fields(hybrid, other) == []


def test_a_gnu_context_stays_gnu() -> None:
    base = _tar(_member("blah.txt", b"x", uid=1), fmt=tarfile.GNU_FORMAT)
    other = _tar(_member("blah.txt", b"x"))
    hybrid = hybrid_context(base, other, [("blah.txt", "uid")])
    assert hybrid[257:265] == b"ustar  \0"


def test_changes_that_cannot_be_applied_are_refused() -> None:
    with pytest.raises(HybridError, match="nope"):
        hybrid_context(COMPOSE, CLI, [("blah.txt", "nope")])
    with pytest.raises(HybridError, match="not in the context"):
        hybrid_context(COMPOSE, CLI, [("only-cli.txt", "uid")])
    with pytest.raises(HybridError, match="not in the other context"):
        hybrid_context(COMPOSE, CLI, [("only-compose.txt", "uid")])


def _fields(left: bytes, right: bytes) -> list[tuple[str, str]]:
    return [(d.path, d.field) for d in diff_entries(read_entries(left), read_entries(right))]


# --- what the engine strips --------------------------------------------------------------


@pytest.mark.parametrize(
    ("dockerignore", "dockerfile", "stripped"),
    [
        (None, "Dockerfile", set()),
        (b"*.log\n", "Dockerfile", set()),
        (b"Dockerfile\n.dockerignore\n", "Dockerfile", {"Dockerfile", ".dockerignore"}),
        (b"  Dockerfile  \n", "Dockerfile", {"Dockerfile"}),  # the engine trims whitespace
        (b"/Dockerfile\n", "Dockerfile", {"Dockerfile"}),  # a leading "/" is the context root
        (b"*\n!Dockerfile\n", "Dockerfile", {".dockerignore"}),  # the last match decides
        (b"# Dockerfile\n", "Dockerfile", set()),  # a comment
        (b"docker\n", "docker/Custom.Dockerfile", {"docker/Custom.Dockerfile"}),  # its folder
        (b".dockerfile.abc\n", ".dockerfile.abc", {".dockerfile.abc"}),  # the CLI's own trick
        (b"\xef\xbb\xbfDockerfile\n", "Dockerfile", {"Dockerfile"}),  # a UTF-8 BOM is dropped
        (b"**/Dockerfile\n", "Dockerfile", {"Dockerfile"}),
    ],
)
def test_engine_strips_the_dockerfile_and_dockerignore_when_excluded(
    dockerignore: bytes | None, dockerfile: str, stripped: set[str]
) -> None:
    members = [_member(dockerfile, b"FROM x\n"), _member("app.txt", b"a")]
    if dockerignore is not None:
        members.append(_member(".dockerignore", dockerignore))
    assert engine_stripped(_tar(*members), dockerfile) == stripped


def test_dockerignore_patterns_follow_the_engines_rules() -> None:
    patterns = read_dockerignore(b"*.log\n!keep.log\n**/*.tmp\n/rootonly.txt\ntrailing.txt   \n")
    assert patterns == ["*.log", "!keep.log", "**/*.tmp", "rootonly.txt", "trailing.txt"]
    assert dockerignore_matches("debug.log", patterns)
    assert not dockerignore_matches("keep.log", patterns)
    assert dockerignore_matches("a/b/c.tmp", patterns)
    assert not dockerignore_matches("sub/rootonly.txt", patterns)
    assert dockerignore_matches("trailing.txt", patterns)
    assert not dockerignore_matches(".", patterns)


# --- the build request outside the context ----------------------------------------------


def _request(path: str, query: dict[str, list[str]], headers: dict[str, str]) -> CapturedBuild:
    return CapturedBuild(path=path, query=query, headers=headers, body=b"")


def test_request_differences_name_api_query_and_headers_but_not_framing_or_tags() -> None:
    compose = _request(
        "/v1.25/build?t=a",
        {"t": ["a"], "buildargs": ['{"A": "1"}'], "rm": ["True"]},
        {"content-length": "10", "user-agent": "docker-sdk-python/2.7.0"},
    )
    cli = _request(
        "/v1.41/build?t=b",
        {"t": ["b"], "rm": ["True"]},
        {"transfer-encoding": "chunked", "user-agent": "Docker-Client/28"},
    )
    found = [(d.where, d.name, d.compose, d.cli) for d in request_differences(compose, cli)]
    assert found == [
        ("api", "version", "1.25", "1.41"),
        ("query", "buildargs", '{"A": "1"}', None),
        ("header", "user-agent", "docker-sdk-python/2.7.0", "Docker-Client/28"),
    ]


def test_request_changes_are_the_api_version_and_each_query_parameter_a_probe_can_replay() -> None:
    compose = _request(
        "/v1.25/build?t=a",
        {"t": ["a"], "cachefrom": ['["gone"]'], "rm": ["True"], "shmsize": ["0"]},
        {"user-agent": "docker-sdk-python/4.4.4"},
    )
    cli = _request(
        "/v1.41/build?t=b",
        {"t": ["b"], "rm": ["1"], "labels": ["{}"], "dockerfile": [".dockerfile.0f3e"]},
        {},
    )
    changes = request_changes(compose, cli)
    assert [(d.path, d.field, d.compose, d.cli) for d in changes] == [
        (REQUEST, "api:version", "1.25", "1.41"),
        (REQUEST, "query:cachefrom", '["gone"]', None),
        (REQUEST, "query:labels", None, "{}"),
        (REQUEST, "query:shmsize", "0", None),
    ]
    path, query = hybrid_request(compose, cli, [d.field for d in changes])
    assert path == "/v1.41/build?t=a"
    assert query == {"t": ["a"], "rm": ["True"], "labels": ["{}"]}
    assert hybrid_request(compose, cli, []) == (compose.path, compose.query)
    path, query = hybrid_request(compose, cli, ["query:shmsize"])
    assert (path, query) == (
        "/v1.25/build?t=a",
        {"t": ["a"], "cachefrom": ['["gone"]'], "rm": ["True"]},
    )
    unversioned = _request("/build", {}, {})
    assert hybrid_request(unversioned, compose, ["api:version"])[0] == "/v1.25/build"
    assert hybrid_request(compose, unversioned, ["api:version"])[0] == "/build?t=a"
    with pytest.raises(HybridError, match="header:user-agent"):
        hybrid_request(compose, cli, ["header:user-agent"])


def test_a_probe_replays_the_request_without_a_tag_and_removes_its_containers() -> None:
    query = probe_query({"t": ["mine"], "buildargs": ["{}"], "rm": ["0"], "dockerfile": ["D"]})
    assert query == {"buildargs": ["{}"], "dockerfile": ["D"], "rm": ["1"], "forcerm": ["1"]}
    headers = probe_headers({"content-length": "5", "content-type": "application/tar"})
    assert headers == {"content-type": "application/tar"}


def test_a_type_change_takes_the_other_member_whole() -> None:
    base = _tar(_member("x", b"content"), _member("y", b"y"))
    other = _tar(_member("x", kind=tarfile.SYMTYPE, linkname="y"), _member("y", b"y"))
    assert {field for _, field in _fields(base, other)} >= {"type", "linkname", "digest"}
    assert _fields(hybrid_context(base, other, [("x", "type")]), other) == []


def _with_file_type_bits(tar_bytes: bytes, name: str) -> bytes:
    """What a Go client before Go 1.19 sends: mode 0o100644 (tarfile cannot write it)."""
    data = bytearray(tar_bytes)
    for offset in range(0, len(data), tarfile.BLOCKSIZE):
        if data[offset : offset + len(name) + 1] == name.encode() + b"\0":
            data[offset + 100 : offset + 108] = b"0100644\0"
            data[offset + 148 : offset + 156] = b" " * 8
            checksum = sum(data[offset : offset + tarfile.BLOCKSIZE])
            data[offset + 148 : offset + 155] = b"%06o\0" % checksum
            return bytes(data)
    raise AssertionError(f"{name} not found")


def test_file_type_bits_in_the_mode_are_a_difference_and_can_be_applied() -> None:
    plain = _tar(_member("blah.txt", b"blah\n"))
    go = _with_file_type_bits(plain, "blah.txt")
    assert _fields(plain, go) == [("blah.txt", "mode")]
    hybrid = hybrid_context(plain, go, [("blah.txt", "mode")])
    assert read_entries(hybrid)["blah.txt"].mode == 0o100644
    assert _fields(hybrid, go) == []
    assert read_entries(hybrid_context(go, plain, []))["blah.txt"].mode == 0o100644


def test_xattrs_pax_records_and_device_numbers_are_differences_that_can_be_applied() -> None:
    found = {change for change in _changes(COMPOSE) if change[0] in ("tty", "tagged.txt")}
    assert found == {
        ("tty", "devmajor"),
        ("tty", "devminor"),
        ("tagged.txt", "pax:comment"),
        ("tagged.txt", "xattr:security.capability"),
        ("tagged.txt", "xattr:user.note"),
    }
    hybrid = hybrid_context(COMPOSE, CLI, sorted(found))
    assert not {change for change in _changes(hybrid) if change[0] in ("tty", "tagged.txt")}
    with tarfile.open(fileobj=io.BytesIO(hybrid)) as archive:
        records = archive.getmember("tagged.txt").pax_headers
    assert records["SCHILY.xattr.security.capability"].encode("utf-8", "surrogateescape") == (
        b"\x01\x00\x00\x02\x00\x04\x00\x00"
    )
    assert "SCHILY.xattr.user.note" not in records and "comment" not in records


def test_a_gnu_context_becomes_pax_only_to_carry_a_record() -> None:
    base = _tar(_member("blah.txt", b"x"), fmt=tarfile.GNU_FORMAT)
    other = _tar(_member("blah.txt", b"x", pax_headers={"SCHILY.xattr.user.a": "1"}))
    assert _fields(base, other) == [("blah.txt", "xattr:user.a")]
    hybrid = hybrid_context(base, other, [("blah.txt", "xattr:user.a")])
    assert _fields(hybrid, other) == []
    assert hybrid_context(base, other, [])[257:265] == b"ustar  \0"


def test_a_hard_link_pair_sent_the_other_way_round_is_two_type_changes() -> None:
    """docker-py and the CLI can pick different members of a hard-linked pair as the link
    entry: each path's type differs, and applying both gives the other client's pair."""
    base = _tar(_member("a", b"same"), _member("b", kind=tarfile.LNKTYPE, linkname="a"))
    other = _tar(_member("a", kind=tarfile.LNKTYPE, linkname="b"), _member("b", b"same"))
    found = _fields(base, other)
    assert {change for change in found if change[1] == "type"} == {("a", "type"), ("b", "type")}
    hybrid = hybrid_context(base, other, [("a", "type"), ("b", "type")])
    assert _fields(hybrid, other) == []
    with tarfile.open(fileobj=io.BytesIO(hybrid)) as archive:  # the link after its target
        assert [(m.name, m.type) for m in archive] == [
            ("b", tarfile.REGTYPE),
            ("a", tarfile.LNKTYPE),
        ]


@given(
    st.permutations(["f0", "f1", "f2", "l0", "l1", "l2"]),
    st.lists(st.sampled_from(["f0", "f1", "f2"]), min_size=3, max_size=3),
)
def test_every_hard_link_comes_after_the_member_it_links_to(
    order: list[str], targets: list[str]
) -> None:
    """Links move behind their targets; everything else keeps its place and nothing is lost."""
    links = {f"l{i}": target for i, target in enumerate(targets)}
    members = [
        _member(name, kind=tarfile.LNKTYPE, linkname=links[name])
        if name in links
        else _member(name, b"x")
        for name in order
    ]
    names = [info.name for info, _ in links_after_targets(members)]
    assert sorted(names) == sorted(order)
    assert [n for n in names if n not in links] == [n for n in order if n not in links]
    assert all(names.index(link) > names.index(target) for link, target in links.items())
