"""Docker engines and CLIs by version, fetched once from the Debian archive into the cache.

People run today's engines and CLIs, the machine has one of each: ``--engine 28.5`` and
``--cli 28.5`` fetch Debian's packages of that version with a private apt configuration (its
own sources list, lists, cache and state under the harness's cache: the machine's apt state is
never touched), unpack them with ``dpkg -x``, check that the binary states the version, and
reuse them afterwards without asking the archive again. The archive is the one the machine's
apt already reads Debian from. CLIs from Docker 23 on get the buildx plugin of their suite in
a private DOCKER_CONFIG, as a user's installation has it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from filelock import FileLock

from harness.core.debian import (
    BUILDX_PACKAGE,
    CLI_PACKAGES,
    ENGINE_PACKAGE,
    ArchiveSource,
    Offer,
    buildx_offer,
    choose,
    cli_offer,
    cli_versions,
    debian_archive,
    matches,
    needs_buildx,
    offered_versions,
    parse_madison,
)
from harness.core.errors import RemoteError, UserError
from harness.core.model import CliInfo
from harness.edges.builders import find_cli, has_buildkit
from harness.edges.engine import ManagedDockerd
from harness.edges.paths import cache_dir
from harness.edges.process import run

APT_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))
LISTS_FRESH_SECONDS = 24 * 3600  # a version not in lists older than this asks the archive again
WAY_OUT = "name a running engine with --engine HOST, or a CLI with --cli PATH"


class ProvisionError(RemoteError):
    """A tool could not be fetched (no apt, not Debian, the archive failed); the message
    says what to do instead."""


class NotOffered(UserError):
    """The archive offers no tool of the version the user named."""


def _apt_sources() -> dict[str, str]:
    files: dict[str, str] = {}
    single, folder = APT_SOURCES
    candidates = [single, *(sorted(folder.iterdir()) if folder.is_dir() else [])]
    for path in candidates:
        if path.suffix in (".list", ".sources") and path.is_file():
            try:
                files[path.name] = path.read_text(errors="replace")
            except OSError:
                continue
    return files


class DebianArchive:
    """The machine's Debian archive through a private apt configuration under ``root``."""

    def __init__(self, root: Path, log: Callable[[str], None] = print) -> None:
        self.root = root
        self.log = log
        self._offers: list[Offer] | None = None

    def _source(self) -> ArchiveSource:
        if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
            raise ProvisionError(
                f"apt-get and dpkg are needed to fetch Docker by version: {WAY_OUT}"
            )
        source = debian_archive(_apt_sources())
        if source is None:
            raise ProvisionError(f"apt reads no Debian archive on this machine: {WAY_OUT}")
        return source

    def _options(self, cache: Path | None = None) -> list[str]:
        """apt's private folders; ``cache``: a download's own (two at once share nothing)."""
        root = self.root
        settings = {
            "Dir::Etc::sourcelist": root / "sources.list",
            "Dir::Etc::sourceparts": root / "sources.list.d",
            "Dir::Etc::preferencesparts": root / "preferences.d",
            "Dir::State": root / "state",
            "Dir::State::lists": root / "lists",
            "Dir::State::status": root / "status",
            "Dir::Cache": cache or root / "cache",
            "APT::Sandbox::User": "root",
            "Debug::NoLocking": "1",  # private folders: the machine's apt lock is not ours
        }
        return [option for key, value in settings.items() for option in ("-o", f"{key}={value}")]

    def _apt(
        self, *args: str, cwd: Path | None = None, cache: Path | None = None, timeout: float = 600
    ) -> str:
        command = ["apt-get", *self._options(cache), *args]
        done = run(command, env=os.environ, cwd=cwd, timeout=timeout)
        if not done.ok:
            last = done.output.strip().splitlines()[-1:] or ["no output"]
            raise ProvisionError(f"apt-get {args[0]} failed: {last[0][:300]}; {WAY_OUT}")
        return done.output

    def _update(self) -> None:
        source = self._source()
        for folder in ("sources.list.d", "preferences.d", "state", "lists/partial", "cache"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        (self.root / "sources.list").write_text(source.sources_list())
        (self.root / "status").touch()
        self.log("reading the Debian archive's package lists (once; kept in the cache)")
        self._apt("update")
        (self.root / "updated").write_text(str(time.time()))

    def offers(self, refresh: bool = False) -> list[Offer]:
        """Every docker package version the archive offers (lists fetched once, read once per
        process: each read parses every suite's lists)."""
        with FileLock(self.root.with_name("apt.lock")):
            if self._offers is not None and not refresh:
                return self._offers
            stamp = self.root / "updated"
            if refresh or not stamp.exists():
                self._update()
            packages = [ENGINE_PACKAGE, *CLI_PACKAGES, BUILDX_PACKAGE]
            done = run(
                ["apt-cache", *self._options(), "madison", *dict.fromkeys(packages)],
                env=os.environ,
                timeout=120,
            )
            self._offers = parse_madison(done.output)
            return self._offers

    def lists_age(self) -> float:
        try:
            return time.time() - float((self.root / "updated").read_text())
        except (OSError, ValueError):
            return float("inf")

    def unpack(self, offers: list[Offer], into: Path) -> None:
        """Download the packages (apt checks them against the signed lists) and unpack them
        into ``into`` (moved there whole; ``Tools`` marks it complete once checked)."""
        into.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=into.parent, prefix=".unpack-") as temporary:
            staging = Path(temporary)
            (staging / "debs").mkdir()
            pinned = (offer.pinned for offer in offers)
            self._apt("download", *pinned, cwd=staging / "debs", cache=staging / "cache")
            tree = staging / "tree"
            for deb in sorted((staging / "debs").glob("*.deb")):
                done = run(["dpkg", "-x", str(deb), str(tree)], env=os.environ, timeout=300)
                if not done.ok:
                    raise ProvisionError(f"cannot unpack {deb.name}: {done.output.strip()[:300]}")
            tree.rename(into)


class Tools:
    """Provisioned engines and CLIs under ``root`` (the harness's cache)."""

    def __init__(self, root: Path | None = None, log: Callable[[str], None] = print) -> None:
        self.root = root or cache_dir()
        self.log = log
        self.archive = DebianArchive(self.root / "apt" / "archive", log)

    def engine(self, wanted: str) -> ManagedDockerd:
        """A private engine of version ``wanted`` (not started)."""
        folder = self._tool("engine", wanted, self._engine_packages)
        version = folder.name.removeprefix("engine-")
        binaries = (folder / "usr" / "sbin", folder / "usr" / "bin")
        dockerd = folder / "usr" / "sbin" / "dockerd"
        said = _facts(folder).get("said")
        return ManagedDockerd(
            self.root / "engines" / version,
            str(dockerd),
            binaries,
            said=said if isinstance(said, str) else None,
        )

    def cli(self, wanted: str) -> CliInfo:
        """The docker CLI of version ``wanted``, with its buildx plugin where it needs one."""
        folder = self._tool("cli", wanted, self._cli_packages)
        binary = str(folder / "usr" / "bin" / "docker")
        version = _facts(folder).get("version")
        if not isinstance(version, str):  # fetched by an older harness: ask the binary
            version = find_cli(binary).version
        plugins = folder / "config"
        return CliInfo(binary, version, str(plugins) if plugins.is_dir() else None)

    def cli_buildkit(self, cli: CliInfo) -> bool:
        """Whether a provisioned CLI builds with BuildKit: recorded when it was fetched (a
        provisioned tool never changes), else asked of it."""
        recorded = _facts(Path(cli.path).parents[2]).get("buildkit")
        return recorded if isinstance(recorded, bool) else has_buildkit(cli)

    def prefetch(self, engines: Sequence[str], clis: Sequence[str]) -> None:
        """Fetch the engines and CLIs a run will need side by side (each a download and an
        unpack: network and CPU overlap), before its first cell; already fetched ones cost a
        look in the cache. The first failure is raised once the others are done."""
        wanted = [("engine", v) for v in dict.fromkeys(engines) if v]
        wanted += [("cli", v) for v in dict.fromkeys(clis) if v]
        missing = [(kind, v) for kind, v in wanted if self.provisioned(kind, v) is None]
        if len(missing) < 2:
            return  # nothing to overlap: fetched when first used

        def fetch(kind: str, version: str) -> None:
            if kind == "engine":
                self.engine(version)
            else:
                self.cli(version)

        with ThreadPoolExecutor(max_workers=len(missing)) as pool:
            for done in [pool.submit(fetch, kind, version) for kind, version in missing]:
                done.result()

    def provisioned(self, kind: str, wanted: str) -> Path | None:
        """The newest complete tool of ``kind`` already in the cache matching ``wanted``."""
        folder = self.root / "tools"
        found = [
            path
            for path in (folder.iterdir() if folder.is_dir() else [])
            if path.name.startswith(f"{kind}-")
            and matches(wanted, path.name.removeprefix(f"{kind}-"))
            and (path / "provisioned.json").is_file()
        ]
        return max(found, key=lambda path: _version_key(path.name), default=None)

    def _tool(
        self, kind: str, wanted: str, packages: Callable[[list[Offer], str], list[Offer]]
    ) -> Path:
        ready = self.provisioned(kind, wanted)
        if ready is not None:
            return ready
        offers = self.archive.offers()
        chosen = packages(offers, wanted)
        if not chosen and self.archive.lists_age() > LISTS_FRESH_SECONDS:
            offers = self.archive.offers(refresh=True)
            chosen = packages(offers, wanted)
        if not chosen:
            known = (
                offered_versions(offers, ENGINE_PACKAGE)
                if kind == "engine"
                else cli_versions(offers)
            )
            raise NotOffered(
                f"the Debian archive offers no docker {kind} {wanted} "
                f"(offered: {', '.join(known) or 'none'}); {WAY_OUT}"
            )
        folder = self.root / "tools" / f"{kind}-{chosen[0].version}"
        with FileLock(folder.with_name(f".{folder.name}.lock")):
            if not (folder / "provisioned.json").is_file():
                self.log(
                    f"fetching docker {kind} {chosen[0].version} from the Debian archive "
                    f"({', '.join(offer.pinned for offer in chosen)})"
                )
                shutil.rmtree(folder, ignore_errors=True)
                self.archive.unpack(chosen, folder)
                self._finish(kind, folder, chosen)
        return folder

    @staticmethod
    def _engine_packages(offers: list[Offer], wanted: str) -> list[Offer]:
        chosen = choose((offer for offer in offers if offer.package == ENGINE_PACKAGE), wanted)
        return [chosen] if chosen else []

    @staticmethod
    def _cli_packages(offers: list[Offer], wanted: str) -> list[Offer]:
        cli = cli_offer(offers, wanted)
        if cli is None:
            return []
        plugin = buildx_offer(offers, cli) if needs_buildx(cli.version) else None
        return [cli, plugin] if plugin else [cli]

    def _finish(self, kind: str, folder: Path, chosen: list[Offer]) -> None:
        """Check the binary states its version, give a CLI its plugin folder, then mark the
        tool complete (a folder without the mark is fetched again)."""
        version = chosen[0].version
        binary = folder / "usr" / ("sbin/dockerd" if kind == "engine" else "bin/docker")
        said = run([str(binary), "--version"], env=os.environ, timeout=30)
        if not said.ok or f"version {version}" not in said.output:
            shutil.rmtree(folder, ignore_errors=True)
            raise ProvisionError(
                f"the provisioned {binary.name} does not state version {version}: "
                f"{said.output.strip()[:200]}; {WAY_OUT}"
            )
        plugin = folder / "usr" / "libexec" / "docker" / "cli-plugins" / "docker-buildx"
        if kind == "cli" and plugin.is_file():
            plugins = folder / "config" / "cli-plugins"
            plugins.mkdir(parents=True)
            (plugins / "docker-buildx").symlink_to(os.path.relpath(plugin, plugins))
        # What a run needs to know of the tool, asked once here: a fully stored rerun reads it
        # instead of running the binaries (each answer costs a process start).
        facts: dict[str, object] = {"said": said.output.strip()}
        if kind == "cli":
            found = find_cli(str(binary))
            config = folder / "config"
            facts["version"] = found.version
            facts["buildkit"] = has_buildkit(
                CliInfo(found.path, found.version, str(config) if config.is_dir() else None)
            )
        manifest = {"packages": [offer.pinned for offer in chosen], **facts}
        (folder / "provisioned.json").write_text(json.dumps(manifest) + "\n")


def _facts(folder: Path) -> dict[str, object]:
    """What ``provisioned.json`` recorded of a tool (nothing if it cannot be read)."""
    try:
        facts = json.loads((folder / "provisioned.json").read_text())
    except (OSError, ValueError):
        return {}
    return facts if isinstance(facts, dict) else {}


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split("-", 1)[1].split(".") if part.isdigit())
