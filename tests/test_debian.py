"""Engines and CLIs by version from Debian's archive: apt's sources and madison lines read,
and the package chosen for a version (pure)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from harness.core.debian import (
    ArchiveSource,
    Offer,
    buildx_offer,
    choose,
    cli_offer,
    cli_versions,
    debian_archive,
    is_tool_version,
    matches,
    needs_buildx,
    parse_madison,
    upstream_version,
)

DEB822 = """Types: deb
# a comment
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
"""

MADISON = """\
 docker.io | 28.5.2+dfsg4-5 | http://mirror.example/debian sid/main amd64 Packages
 docker.io | 26.1.5+dfsg1-9+deb13u1+b1 | http://mirror.example/debian trixie/main amd64 Packages
 docker.io | 20.10.24+dfsg1-1+deb12u1+b6 | http://mirror.example/debian bookworm/main amd64 Packages
docker-cli | 28.5.2+dfsg4-5 | http://mirror.example/debian sid/main amd64 Packages
docker-cli | 26.1.5+dfsg1-9+deb13u1+b1 | http://mirror.example/debian trixie/main amd64 Packages
docker-buildx | 0.29.1+ds1-4 | http://mirror.example/debian sid/main amd64 Packages
docker-buildx | 0.13.1+ds1-3 | http://mirror.example/debian trixie/main amd64 Packages
"""


def test_the_debian_archive_is_read_from_apts_own_sources() -> None:
    found = debian_archive({"debian.sources": DEB822, "other.list": "deb http://x/ y main\n"})
    assert found == ArchiveSource(
        "http://mirror.example/debian", "/usr/share/keyrings/debian-archive-keyring.gpg"
    )
    assert found.sources_list(("trixie",)) == (
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
        "http://mirror.example/debian trixie main\n"
    )
    one_line = "# old style\ndeb [arch=amd64] http://m.example/debian bookworm main contrib\n"
    assert debian_archive({"sources.list": one_line}) == ArchiveSource(
        "http://m.example/debian", None
    )


def test_not_debian_is_none() -> None:
    assert debian_archive({}) is None
    ubuntu = "deb http://archive.example/ubuntu jammy main\n"
    assert debian_archive({"sources.list": ubuntu}) is None
    security_only = "deb http://m.example/debian-security bookworm-security main\n"
    assert debian_archive({"sources.list": security_only}) is None


def test_madison_lines_give_offers_with_upstream_versions() -> None:
    offers = parse_madison(MADISON + "garbage\n")
    assert len(offers) == 7
    assert offers[1] == Offer("docker.io", "26.1.5+dfsg1-9+deb13u1+b1", "trixie")
    assert [offer.version for offer in offers[:3]] == ["28.5.2", "26.1.5", "20.10.24"]
    assert offers[0].pinned == "docker.io=28.5.2+dfsg4-5"


def test_a_version_chooses_the_newest_matching_package() -> None:
    offers = parse_madison(MADISON)
    engines = [offer for offer in offers if offer.package == "docker.io"]
    assert choose(engines, "28.5").version == "28.5.2"  # type: ignore[union-attr]
    assert choose(engines, "20.10.24").suite == "bookworm"  # type: ignore[union-attr]
    assert choose(engines, "28.5.1") is None and choose(engines, "2") is None
    cli = cli_offer(offers, "28.5")
    assert cli is not None and cli.package == "docker-cli"
    split = [offers[0], Offer("docker-cli", "29.0.0-1", "sid")]  # sid's docker.io has no CLI
    assert cli_offer(split, "28.5") is None
    assert cli_versions(offers) == ["20.10.24", "26.1.5", "28.5.2"]
    old = cli_offer(offers, "20.10")  # Debian 12 ships the CLI inside docker.io
    assert old is not None and old.package == "docker.io"
    assert needs_buildx(cli.version) and not needs_buildx(old.version)
    assert buildx_offer(offers, cli) == Offer("docker-buildx", "0.29.1+ds1-4", "sid")
    trixie = cli_offer(offers, "26.1")
    assert trixie is not None and buildx_offer(offers, trixie).suite == "trixie"  # type: ignore[union-attr]


def test_tool_versions_are_digits_and_dots_only() -> None:
    assert all(map(is_tool_version, ["28", "28.5", "20.10.24"]))
    for text in ["docker", "/usr/bin/docker", "unix:///x.sock", "28.5.2.1", "v28", ""]:
        assert not is_tool_version(text)


@given(
    st.lists(st.integers(0, 40), min_size=1, max_size=3), st.text("abcdfgs0123456789.", max_size=6)
)
def test_upstream_version_drops_epoch_suffix_and_revision(parts: list[int], suffix: str) -> None:
    version = ".".join(map(str, parts))
    assert upstream_version(f"1:{version}+dfsg{suffix}-3") == version
    assert upstream_version(f"{version}~ds1-1+b2") == version
    assert matches(version, version)
    assert matches(".".join(map(str, parts[:1])), version)
    assert not matches(version + "1", version)
