"""The working copy is faithful: each client sends from it exactly what it sends from the
user's folder (#17.1).

Both clients (docker-compose 1.x's docker SDK, and the docker CLI) build a project with a
hard-linked pair, a setuid file carrying a capability xattr, a setgid folder, a sticky folder,
a fifo, a unix socket, a symlink and a non-root owner, once from the user's folder and once
from the harness's copy, through the recording proxy. Every header field of every member is
compared, in the order sent; only the built Dockerfile's FROM may differ (and its mtime: the
copy's Dockerfile is a fresh file, see context.replace_file).
"""

from __future__ import annotations

import os
import socket
import struct
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.app.runner import CellRunner
from harness.core.httpcapture import contexts_in
from harness.core.model import CellSpec
from harness.core.tardiff import open_context, pax_records, raw_name
from harness.edges.baseimage import busybox_rootfs, find_static_busybox
from harness.edges.builders import build_environment, cli_build, cli_shim, compose_build
from harness.edges.context import compose_file, materialize, read_compose_build
from harness.edges.engine import Engine
from harness.edges.fixtures import project_scenario
from harness.edges.process import Completed
from harness.edges.recorder import RecordingProxy
from harness.edges.venvs import Environment

pytestmark = pytest.mark.engine

# security.capability v2 granting cap_net_raw (bit 13), permitted and effective, as setcap writes it
CAPABILITY = struct.pack("<5I", 0x02000001, 1 << 13, 0, 0, 0)
FIELDS = ("name", "type", "mode", "uid", "gid", "uname", "gname", "size", "mtime", "linkname",
          "devmajor", "devminor", "records")  # fmt: skip


@pytest.fixture
def project(engine: Engine, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A checkout owned by 1000:1000 holding every kind of entry a client treats specially;
    its FROM image, and a second name of it for the copy's FROM."""
    tag = f"fidelity{uuid.uuid4().hex[:8]}"
    client = engine.client
    client.api.import_image_from_data(
        busybox_rootfs(find_static_busybox()), repository=tag, tag="base"
    )
    client.api.tag(f"{tag}:base", tag, "copybase")
    folder = tmp_path / "app"
    (folder / "bin").mkdir(parents=True)
    (folder / "shared").mkdir()
    (folder / "Dockerfile").write_text(f"FROM {tag}:base\nCOPY . /app\n")
    (folder / "docker-compose.yml").write_text(
        f"version: '2.1'\nservices:\n  web:\n    build: .\n    image: {tag}:compose\n"
    )
    # a pair the two clients walk in different orders: Go visits "a/" before "a.txt", a sort
    # of whole paths puts "a.txt" first
    (folder / "a").mkdir()
    (folder / "a.txt").write_text("twin\n")
    os.link(folder / "a.txt", folder / "a" / "twin")
    (folder / "bin" / "ping").write_bytes(b"#!/bin/sh\necho ping\n")
    (folder / "link").symlink_to("a.txt")
    os.mkfifo(folder / "pipe")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(folder / "sock"))
    for path in [folder, *folder.rglob("*")]:
        os.lchown(path, 1000, 1000)
    # after the owner: chown clears setuid/setgid and security.capability
    (folder / "bin" / "ping").chmod(0o4755)
    os.setxattr(folder / "bin" / "ping", "security.capability", CAPABILITY)
    (folder / "bin").chmod(0o2755)
    (folder / "shared").chmod(0o1777)
    os.utime(folder / "a.txt", ns=(1_500_000_000_123_456_789, 1_500_000_000_123_456_789))
    yield folder, tag
    for name in ("base", "copybase", "compose", "cli"):
        if client.images.list(name=f"{tag}:{name}"):
            client.images.remove(f"{tag}:{name}", force=True)


def headers(context: bytes) -> list[dict[str, object]]:
    """Every member's header as sent, in order (tarfile's own reading, plus the name as
    written and the PAX records beyond the header fields)."""
    members = []
    with open_context(context) as archive:
        for member in archive:
            members.append(
                {
                    "name": raw_name(context, member),
                    "type": member.type,
                    "mode": member.mode,
                    "uid": member.uid,
                    "gid": member.gid,
                    "uname": member.uname,
                    "gname": member.gname,
                    "size": member.size,
                    "mtime": member.mtime,
                    "linkname": member.linkname,
                    "devmajor": member.devmajor,
                    "devminor": member.devminor,
                    "records": sorted(pax_records(member).items()),
                    "content": archive.extractfile(member).read()  # type: ignore[union-attr]
                    if member.isreg()
                    else None,
                }
            )
    return members


def send(
    client: str, folder: Path, environment: Environment, runner: CellRunner, workdir: Path, tag: str
) -> bytes:
    """Build from ``folder`` with one client through a recording proxy; the context it sent."""
    workdir.mkdir(parents=True)
    shim = cli_shim(runner.cli, workdir / "shim")
    with RecordingProxy(runner.engine.host, workdir / "p.sock", workdir / "capture") as proxy:
        env = build_environment(proxy.host, shim, "0")
        build = read_compose_build(folder, "web")
        done: Completed
        if client == "cli":
            options, where = build.cli_options(), build.context
            done = cli_build(runner.cli, folder, f"{tag}:cli", options, where, env, timeout=300)
        else:
            files = [compose_file(folder)]
            done = compose_build(environment.compose_exe, folder, tag, "web", env, 300, files)
    assert not done.timed_out, done.output
    captured = contexts_in(workdir / "capture")
    assert len(captured) == 1, done.output
    return captured[0].body


@pytest.mark.parametrize("client", ["compose", "cli"])
def test_each_client_sends_the_same_context_from_the_copy_as_from_the_users_folder(
    client: str, runner: CellRunner, project: tuple[Path, str], tmp_path: Path
) -> None:
    folder, tag = project
    environment = runner.environments.ensure(runner.plan(CellSpec(compose="1.29.2")))
    assert isinstance(environment, Environment), environment
    copy = materialize(project_scenario(folder, "web"), tmp_path / "work" / "copy",
                       f"{tag}:copybase", None).path  # fmt: skip

    original = headers(send(client, folder, environment, runner, tmp_path / "o", tag))
    copied = headers(send(client, copy, environment, runner, tmp_path / "c", tag))

    def without_dockerfile(members: list[dict[str, object]]) -> list[dict[str, object]]:
        return [m for m in members if m["name"] != "Dockerfile"]

    assert without_dockerfile(copied) == without_dockerfile(original)
    [theirs] = [m for m in original if m["name"] == "Dockerfile"]
    [ours] = [m for m in copied if m["name"] == "Dockerfile"]
    assert {k: ours[k] for k in FIELDS if k not in ("size", "mtime")} == {
        k: theirs[k] for k in FIELDS if k not in ("size", "mtime")
    }
    assert (
        ours["content"]
        == str(theirs["content"], "utf-8")
        .replace(f"FROM {tag}:base", f"FROM {tag}:copybase")
        .encode()
    )

    # what was compared holds every special entry as this client sends it
    by_name = {str(m["name"]).rstrip("/"): m for m in original}
    assert "sock" not in by_name  # both clients skip sockets
    assert by_name["pipe"]["type"] == tarfile.FIFOTYPE
    assert by_name["link"]["type"] == tarfile.SYMTYPE and by_name["link"]["linkname"] == "a.txt"
    assert int(str(by_name["bin/ping"]["mode"])) & 0o7777 == 0o4755
    assert int(str(by_name["bin"]["mode"])) & 0o7777 == 0o2755
    assert int(str(by_name["shared"]["mode"])) & 0o7777 == 0o1777
    assert {(m["uid"], m["gid"]) for m in original} == (
        {(1000, 1000)} if client == "compose" else {(0, 0)}
    )
    pair = {name: by_name[name]["type"] for name in ("a.txt", "a/twin")}
    assert sorted(pair.values()) == sorted([tarfile.REGTYPE, tarfile.LNKTYPE])
    capability = ("xattr:security.capability", "hex:" + CAPABILITY.hex())
    assert (capability in by_name["bin/ping"]["records"]) is (client == "cli")  # type: ignore[operator]
    print(client, pair, by_name["bin/ping"]["records"])
