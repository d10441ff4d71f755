"""Releases of a package (version as published, upload time, yanked) and the pure helpers
that pick versions out of them: bounds, series, ranges, latest patch per minor, cutoffs, and
the parsing of a PEP 691/700 JSON page into releases."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from harness.core.errors import HarnessError, RemoteError, UserError

COMPOSE = "docker-compose"  # the packages whose releases the harness reads
SDK = "docker"

# A release's files are uploaded one after another, minutes apart; the release's time is its
# earliest file, so the cutoff must leave room for the rest of them.
CUTOFF_MARGIN = timedelta(hours=1)
_NEAREST = 3

Side = Literal["low", "high"]


class ReleaseIndexError(HarnessError):
    """Base of every error this module raises on purpose; messages are one line."""


class BadIndexResponse(ReleaseIndexError, RemoteError):
    """The index answered, but not with a usable PEP 691/700 JSON release list."""


class UnknownRelease(ReleaseIndexError, UserError):
    """A bound names no release; the message lists the nearest ones to pick from instead."""

    def __init__(self, bound: str, nearest: Sequence[Release]) -> None:
        self.bound = bound
        self.nearest = list(nearest)
        listing = ", ".join(_describe(r) for r in self.nearest) or "the release list is empty"
        super().__init__(f"no release matches {bound!r}; nearest: {listing}")


class InvalidBound(ReleaseIndexError, UserError):
    """A bound or specifier that is not PEP 440 syntax."""


class InvertedRange(ReleaseIndexError, UserError):
    """The low bound resolves above the high bound."""


@dataclass(frozen=True)
class Release:
    """One published version: `text` is kept exactly as published ("1.10" is not "1.1")."""

    version: Version
    text: str
    uploaded: datetime
    yanked: bool = False

    def __post_init__(self) -> None:
        if self.uploaded.tzinfo is None:
            raise ValueError(f"upload time of {self.text} has no time zone")
        object.__setattr__(self, "uploaded", self.uploaded.astimezone(UTC))

    @classmethod
    def of(cls, text: str, uploaded: datetime, *, yanked: bool = False) -> Release:
        return cls(Version(text), text, uploaded, yanked)

    @property
    def prerelease(self) -> bool:
        return self.version.is_prerelease

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class ReleaseList:
    """Releases of one package, and where they came from (so callers can say it's a cache)."""

    package: str
    releases: list[Release]
    from_cache: bool
    stale: bool
    fetched_at: datetime


# --- pure selection helpers ------------------------------------------------------------------


def _by_version(release: Release) -> Version:
    return release.version


def _describe(release: Release) -> str:
    flags = [f for f, on in (("pre-release", release.prerelease), ("yanked", release.yanked)) if on]
    return f"{release.text} ({', '.join(flags)})" if flags else release.text


def select(
    releases: Iterable[Release], *, pre: bool = False, yanked: bool = False
) -> list[Release]:
    """Releases allowed by the flags, in PEP 440 order (1.9 < 1.10)."""
    return sorted(
        (r for r in releases if (pre or not r.prerelease) and (yanked or not r.yanked)),
        key=_by_version,
    )


def parse_bound(bound: str) -> Version:
    try:
        return Version(bound)
    except InvalidVersion:
        raise InvalidBound(f"{bound!r} is not a PEP 440 version (e.g. 1.20 or 1.20.0)") from None


def _is_series(version: Version) -> bool:
    return (
        version.pre is None and version.post is None and version.dev is None and not version.local
    )


def _in_series(version: Version, series: Version) -> bool:
    size = len(series.release)
    return (
        version.epoch == series.epoch
        and len(version.release) > size
        and version.release[:size] == series.release
    )


def _nearest(ordered: Sequence[Release], wanted: Version) -> list[Release]:
    below = [r for r in ordered if r.version < wanted][-_NEAREST:]
    above = [r for r in ordered if r.version >= wanted][:_NEAREST]
    return below + above


def resolve_bound(
    releases: Iterable[Release],
    bound: str,
    side: Side,
    *,
    pre: bool = False,
    yanked: bool = False,
) -> Release:
    """The release a bisection bound stands for.

    An exact version ("1.20.0") is honoured even if it is a pre-release or yanked: the user named
    it. A series ("1.20", fewer components than the releases have) stands for its earliest
    allowed release on the low side and its latest on the high side.
    """
    if side not in ("low", "high"):
        raise ValueError(f"side must be 'low' or 'high', not {side!r}")
    wanted = parse_bound(bound)
    ordered = sorted(releases, key=_by_version)
    exact = [
        r for r in ordered if r.version == wanted and len(r.version.release) <= len(wanted.release)
    ]
    candidates = exact or (
        [r for r in select(ordered, pre=pre, yanked=yanked) if _in_series(r.version, wanted)]
        if _is_series(wanted)
        else []
    )
    if not candidates:
        raise UnknownRelease(bound, _nearest(ordered, wanted))
    return candidates[0] if side == "low" else candidates[-1]


def between(
    releases: Iterable[Release],
    low: str,
    high: str,
    *,
    pre: bool = False,
    yanked: bool = False,
) -> list[Release]:
    """Allowed releases from `low` to `high` inclusive; the resolved bounds are always included."""
    pool = list(releases)
    first = resolve_bound(pool, low, "low", pre=pre, yanked=yanked)
    last = resolve_bound(pool, high, "high", pre=pre, yanked=yanked)
    if first.version > last.version:
        raise InvertedRange(
            f"low bound {low!r} ({first.text}) is above high bound {high!r} ({last.text})"
        )
    allowed = select(pool, pre=pre, yanked=yanked)
    chosen = {r for r in allowed if first.version <= r.version <= last.version} | {first, last}
    return sorted(chosen, key=_by_version)


def expand(
    releases: Iterable[Release], spec: str, *, pre: bool = False, yanked: bool = False
) -> list[Release]:
    """Releases matching a PEP 440 specifier set such as ">=1.19,<1.30".

    As in PEP 440, a specifier that itself names a pre-release lets pre-releases in.
    """
    try:
        specifiers = SpecifierSet(spec)
    except InvalidSpecifier:
        raise InvalidBound(f"{spec!r} is not a PEP 440 specifier (e.g. '>=1.19,<1.30')") from None
    allow_pre = pre or bool(specifiers.prereleases)
    return [
        r
        for r in select(releases, pre=allow_pre, yanked=yanked)
        if specifiers.contains(r.version, prereleases=True)
    ]


def latest_patch_per_minor(releases: Iterable[Release]) -> list[Release]:
    """The highest release of each (major, minor): a matrix sample that skips redundant patches.

    No filtering happens here; `select` first if pre-releases or yanked ones should not win.
    """
    best: dict[tuple[int, int, int], Release] = {}
    for release in releases:
        key = (release.version.epoch, release.version.major, release.version.minor)
        if key not in best or release.version > best[key].version:
            best[key] = release
    return sorted(best.values(), key=_by_version)


def cutoff_for(release: Release) -> datetime:
    """The moment to resolve dependencies "as of" `release`.

    Everything the release pins or allows that it could have been tested with was uploaded before
    it, so its own upload time is the right horizon. The margin covers the release's other files
    (wheel and sdist go up minutes apart) so the release itself is still installable.
    """
    return release.uploaded + CUTOFF_MARGIN


# --- pure parsing of the PEP 691 document ----------------------------------------------------


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _is_yanked(value: object) -> bool:
    # PEP 691: `true`, or a string giving the reason; absent or `false` means not yanked.
    return value is True or isinstance(value, str)


def _parse_with_packaging(filename: str) -> tuple[NormalizedName, Version] | None:
    try:
        if filename.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(filename)
            return name, version
        if filename.endswith((".tar.gz", ".zip")):
            return parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None
    return None


def _match_published_text(filename: str, project: str, texts: Sequence[str]) -> str | None:
    """Find "<name>-<text>" for filenames packaging rejects (e.g. "docker-compose-1.1.0-rc1")."""
    for index, char in enumerate(filename):
        if char != "-" or canonicalize_name(filename[:index]) != project:
            continue
        rest = filename[index + 1 :]
        for text in texts:  # longest first, so "1.0.1" wins over "1.0"
            if rest.startswith(text) and rest[len(text) : len(text) + 1] in ("", "-", "."):
                return text
    return None


def releases_from_simple_json(package: str, document: Mapping[str, Any]) -> list[Release]:
    """Releases from a PEP 691 project page with PEP 700 `versions` and `upload-time`.

    A release's time is its earliest file; it is yanked only if every file is. Versions without
    (dated) files, files that name no listed version and non-PEP 440 versions are left out.
    """
    project = canonicalize_name(package)
    versions, files = document.get("versions"), document.get("files")
    if not isinstance(versions, list) or not isinstance(files, list):
        raise BadIndexResponse("the page lacks PEP 700 'versions' or 'files'")
    by_version: dict[Version, str] = {}
    for published in versions:
        with contextlib.suppress(InvalidVersion, TypeError):
            by_version.setdefault(Version(published), published)
    texts = sorted(by_version.values(), key=len, reverse=True)

    earliest: dict[str, datetime] = {}
    all_yanked: dict[str, bool] = {}
    undated = 0
    for entry in files:
        filename = entry.get("filename") if isinstance(entry, Mapping) else None
        if not isinstance(filename, str):
            continue
        parsed = _parse_with_packaging(filename)
        if parsed and parsed[0] == project and parsed[1] in by_version:
            text: str | None = by_version[parsed[1]]
        else:
            text = _match_published_text(filename, project, texts)
        if text is None:
            continue
        uploaded = _parse_time(entry.get("upload-time"))
        if uploaded is None:
            undated += 1
            continue
        earliest[text] = min(earliest.get(text, uploaded), uploaded)
        all_yanked[text] = all_yanked.get(text, True) and _is_yanked(entry.get("yanked"))
    if undated and not earliest:
        raise BadIndexResponse("the index gives no file upload times (PEP 700 'upload-time')")
    return sorted(
        (
            Release(version, text, earliest[text], all_yanked[text])
            for version, text in by_version.items()
            if text in earliest
        ),
        key=_by_version,
    )
