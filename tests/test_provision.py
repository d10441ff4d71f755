"""Provisioning by version where it cannot work: one line naming the way out, before any
download; a version the archive does not offer names what it offers."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.core.debian import parse_madison
from harness.edges import builders, engine, provision
from harness.edges.provision import NotOffered, ProvisionError, Tools

WAY_OUT = "name a running engine with --engine HOST, or a CLI with --cli PATH"


def test_a_machine_whose_apt_reads_no_debian_archive_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ubuntu = {"ubuntu.sources": "Types: deb\nURIs: http://a.example/ubuntu\nSuites: noble\n"}
    monkeypatch.setattr(provision, "_apt_sources", lambda: ubuntu)
    with pytest.raises(ProvisionError) as error:
        Tools(tmp_path, log=lambda line: None).engine("28.5")
    assert str(error.value) == f"apt reads no Debian archive on this machine: {WAY_OUT}"
    assert not (tmp_path / "tools").exists()


def test_no_apt_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(provision.shutil, "which", lambda name: None)
    with pytest.raises(ProvisionError, match=f"apt-get and dpkg are needed .*: {WAY_OUT}$"):
        Tools(tmp_path, log=lambda line: None).cli("28.5")


def test_a_version_not_offered_names_what_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    offers = parse_madison(
        " docker.io | 28.5.2+dfsg4-5 | http://m.example/debian sid/main amd64 Packages\n"
        "docker-cli | 26.1.5+dfsg1-9 | http://m.example/debian trixie/main amd64 Packages\n"
    )
    monkeypatch.setattr(provision.DebianArchive, "offers", lambda self, refresh=False: offers)
    monkeypatch.setattr(provision.DebianArchive, "lists_age", lambda self: 0.0)
    tools = Tools(tmp_path, log=lambda line: None)
    with pytest.raises(NotOffered, match=r"offers no docker engine 19 \(offered: 28\.5\.2\)"):
        tools.engine("19")
    with pytest.raises(
        NotOffered, match=r"offers no docker cli 27 \(offered: 26\.1\.5, 28\.5\.2\)"
    ):
        tools.cli("27")


def _provisioned(root: Path, name: str, facts: dict[str, object]) -> Path:
    folder = root / "tools" / name
    for binary in ("usr/bin/docker", "usr/sbin/dockerd"):
        path = folder / binary
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\necho 'Docker version 28.5.2+dfsg4, build asked'\n")
        path.chmod(0o755)
    (folder / "config" / "cli-plugins").mkdir(parents=True)
    (folder / "provisioned.json").write_text(json.dumps({"packages": [], **facts}))
    return folder


def test_a_provisioned_tools_recorded_facts_are_read_without_running_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fully stored rerun must start no process: what was asked of a tool when it was
    fetched is read back (a provisioned tool never changes)."""
    said = "Docker version 28.5.2+dfsg4, build recorded"
    _provisioned(
        tmp_path, "cli-28.5.2", {"said": said, "version": "28.5.2+dfsg4", "buildkit": True}
    )
    _provisioned(tmp_path, "engine-28.5.2", {"said": said})

    def no_process(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a process was started: {args}")

    monkeypatch.setattr(provision, "run", no_process)
    monkeypatch.setattr(builders, "run", no_process)
    monkeypatch.setattr(engine, "run", no_process)
    tools = Tools(tmp_path, log=lambda line: None)
    cli = tools.cli("28.5")
    assert (cli.version, cli.config) == ("28.5.2+dfsg4", str(tmp_path / "tools/cli-28.5.2/config"))
    assert tools.cli_buildkit(cli) is True
    assert tools.engine("28.5").fingerprint() is not None
    assert tools.engine("28.5")._version_said() == f"({said})"


def test_a_tool_fetched_before_facts_were_recorded_is_asked(tmp_path: Path) -> None:
    _provisioned(tmp_path, "cli-28.5.2", {})
    _provisioned(tmp_path, "engine-28.5.2", {})
    tools = Tools(tmp_path, log=lambda line: None)
    assert tools.cli("28.5").version == "28.5.2+dfsg4"
    assert tools.engine("28.5")._version_said() == "(Docker version 28.5.2+dfsg4, build asked)"


def test_missing_tools_are_fetched_side_by_side_and_fetched_ones_not_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each fetch waits at a barrier for the others: fetched one after the other, it breaks."""
    _provisioned(tmp_path, "cli-20.10.24", {"version": "20.10.24", "buildkit": True})
    together = threading.Barrier(3)
    fetched: list[str] = []

    def fetch(kind: str) -> Callable[[Tools, str], None]:
        def one(self: Tools, version: str) -> None:
            together.wait(timeout=10)
            fetched.append(f"{kind} {version}")

        return one

    monkeypatch.setattr(Tools, "engine", fetch("engine"))
    monkeypatch.setattr(Tools, "cli", fetch("cli"))
    tools = Tools(tmp_path, log=lambda line: None)
    tools.prefetch(["20.10", "28.5", "", "28.5"], ["20.10", "28.5", ""])
    assert sorted(fetched) == ["cli 28.5", "engine 20.10", "engine 28.5"]
