"""Provisioning by version where it cannot work: one line naming the way out, before any
download; a version the archive does not offer names what it offers."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.core.debian import parse_madison
from harness.edges import provision
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
