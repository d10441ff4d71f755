"""Docker engines and CLIs by version, as Debian's archive offers them (pure).

The harness provisions a tool of a version the user names ("28.5", "26.1.5") from the Debian
archive the machine's apt already uses: these are parsers of apt's sources and of
``apt-cache madison`` lines, and the choice of the package that gives a wanted version.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from packaging.version import InvalidVersion, Version

# The suites whose docker packages the harness offers: oldstable/stable/unstable of today.
SUITES = ("bookworm", "trixie", "sid")
ENGINE_PACKAGE = "docker.io"  # dockerd (and, up to 20.10, the CLI)
CLI_PACKAGES = ("docker-cli", "docker.io")  # the CLI: its own package from Debian 13 on
BUILDX_PACKAGE = "docker-buildx"
BUILDX_FROM = 23  # CLIs from Docker 23 on need the buildx plugin for BuildKit

_VERSION = re.compile(r"^\d+(\.\d+){0,2}$")


def is_tool_version(text: str) -> bool:
    """A version like ``28``, ``28.5`` or ``28.5.2`` (not a path, host or name)."""
    return bool(_VERSION.match(text))


@dataclass(frozen=True)
class ArchiveSource:
    """Where the machine's apt reads Debian from: the archive URI and its keyring."""

    uri: str
    signed_by: str | None

    def sources_list(self, suites: Sequence[str] = SUITES) -> str:
        """A one-line-style sources list naming ``suites`` of this archive."""
        option = f" [signed-by={self.signed_by}]" if self.signed_by else ""
        return "".join(f"deb{option} {self.uri} {suite} main\n" for suite in suites)


def debian_archive(files: Mapping[str, str]) -> ArchiveSource | None:
    """The Debian archive among apt's sources (``name -> text`` of sources.list and
    sources.list.d files, deb822 or one-line): an entry of type deb with a suite of
    Debian's (not -security or -updates) and the main component. None: not Debian."""
    for name, text in sorted(files.items()):
        entries = _deb822(text) if name.endswith(".sources") else _one_line(text)
        for entry in entries:
            if entry.get("types") != "deb" or "main" not in entry.get("components", "").split():
                continue
            suites = entry.get("suites", "").split()
            if any(
                suite in SUITES or suite in ("stable", "testing", "unstable") for suite in suites
            ):
                return ArchiveSource(entry["uris"].split()[0], entry.get("signed-by"))
    return None


def _deb822(text: str) -> list[dict[str, str]]:
    entries: list[dict[str, str]] = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        if "uris" in fields and fields.get("enabled", "yes") != "no":
            entries.append(fields)
    return entries


def _one_line(text: str) -> list[dict[str, str]]:
    entries = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        options: dict[str, str] = {}
        match = re.match(r"^(deb)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$", line)
        if not match:
            continue
        for option in (match.group(2) or "").split():
            key, _, value = option.partition("=")
            options[key.lower()] = value
        entries.append(
            {
                "types": match.group(1),
                "uris": match.group(3),
                "suites": match.group(4),
                "components": match.group(5),
                **options,
            }
        )
    return entries


@dataclass(frozen=True)
class Offer:
    """One package version the archive offers, in one suite."""

    package: str
    debian_version: str
    suite: str

    @property
    def version(self) -> str:
        """The upstream version: ``28.5.2+dfsg4-5`` -> ``28.5.2``."""
        return upstream_version(self.debian_version)

    @property
    def pinned(self) -> str:
        return f"{self.package}={self.debian_version}"


def upstream_version(debian_version: str) -> str:
    """The upstream part of a Debian version (no epoch, no +dfsg/~ds suffix, no revision)."""
    text = debian_version.split(":", 1)[-1].rsplit("-", 1)[0]
    return re.split(r"[+~]", text, maxsplit=1)[0]


def parse_madison(text: str) -> list[Offer]:
    """``apt-cache madison`` lines: ``pkg | version | uri suite/main arch Packages``."""
    offers = []
    for line in text.splitlines():
        parts = [part.strip() for part in line.split("|")]
        if len(parts) != 3 or not parts[2]:
            continue
        where = parts[2].split()
        suite = where[1].split("/")[0] if len(where) > 1 else ""
        offers.append(Offer(parts[0], parts[1], suite))
    return offers


def _key(version: str) -> Version:
    try:
        return Version(version)
    except InvalidVersion:
        return Version("0")


def matches(wanted: str, version: str) -> bool:
    """``28.5`` matches 28.5.x, ``28`` 28.x.y, ``28.5.2`` only itself."""
    return version == wanted or version.startswith(f"{wanted}.")


def choose(offers: Iterable[Offer], wanted: str) -> Offer | None:
    """The newest offer whose upstream version matches ``wanted``."""
    fitting = [offer for offer in offers if matches(wanted, offer.version)]
    return max(fitting, key=lambda offer: _key(offer.version), default=None)


def cli_offer(offers: Iterable[Offer], wanted: str) -> Offer | None:
    """The package that gives the CLI of ``wanted``: ``docker-cli``, else (Debian 12 and
    before) ``docker.io``, which holds the CLI too."""
    listed = list(offers)
    own = choose((offer for offer in listed if offer.package == "docker-cli"), wanted)
    split = {offer.suite for offer in listed if offer.package == "docker-cli"}
    inside = (o for o in listed if o.package == ENGINE_PACKAGE and o.suite not in split)
    return own or choose(inside, wanted)


def needs_buildx(version: str) -> bool:
    return _key(version).major >= BUILDX_FROM


def buildx_offer(offers: Iterable[Offer], cli: Offer) -> Offer | None:
    """The buildx plugin for a CLI: the one from the CLI's own suite, else the newest."""
    plugins = [offer for offer in offers if offer.package == BUILDX_PACKAGE]
    same = [offer for offer in plugins if offer.suite == cli.suite]
    return max(same or plugins, key=lambda offer: _key(offer.version), default=None)


def offered_versions(offers: Iterable[Offer], *packages: str) -> list[str]:
    return sorted({o.version for o in offers if o.package in packages}, key=_key)


def cli_versions(offers: Iterable[Offer]) -> list[str]:
    """The CLI versions the archive offers (docker.io holds one only where there is no
    docker-cli)."""
    listed = list(offers)
    found = (cli_offer(listed, offer.version) for offer in listed)
    return sorted({offer.version for offer in found if offer}, key=_key)
