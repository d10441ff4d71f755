"""The Docker engine the harness builds on: the user's, or a private one it starts itself.

CI machines and fresh checkouts have no engine running. When nothing answers and we may start
``dockerd`` (installed, running as root), the harness runs a private engine with its own
data-root, exec-root, socket and pidfile, and without touching the host's firewall or
networking (``--iptables=false --bridge=none``): RUN steps need no network here.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.constants
import docker.errors
import requests.exceptions

from harness.core.model import EngineInfo
from harness.edges.files import write_atomically
from harness.edges.paths import cache_dir
from harness.edges.process import run

DAEMON_CONFIG = Path("/etc/docker/daemon.json")  # a private dockerd reads it too


class NoEngine(RuntimeError):
    """No engine answers and none could be started; the message says how to get one."""


@dataclass
class Engine:
    """A connected engine: the SDK client, the DOCKER_HOST for child processes, and facts."""

    client: docker.DockerClient
    host: str
    info: EngineInfo


def _try_connect(host: str | None, timeout: float = 10) -> docker.DockerClient | None:
    try:
        client = (
            docker.DockerClient(base_url=host, timeout=timeout)
            if host
            else docker.from_env(timeout=timeout)
        )
        client.ping()
        return client
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError):
        return None


def _describe(client: docker.DockerClient, managed: bool, name: str | None = None) -> EngineInfo:
    version = client.version()
    info = client.info()
    return EngineInfo(
        version=str(version.get("Version", "unknown")),
        api_version=str(version.get("ApiVersion", "unknown")),
        storage_driver=str(info.get("Driver", "unknown")),
        managed=managed,
        name=name,
    )


def _user_host() -> str:
    """DOCKER_HOST as child processes (the CLI, docker-compose) must be told it."""
    default = docker.constants.DEFAULT_UNIX_SOCKET.replace("http+unix://", "unix://")
    return os.environ.get("DOCKER_HOST") or default


class ManagedDockerd:
    """A private dockerd whose every file lives under ``state_dir``."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.socket = state_dir / "docker.sock"
        self.pidfile = state_dir / "docker.pid"
        self.log = state_dir / "dockerd.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def command(self) -> list[str]:
        return [
            "dockerd",
            f"--data-root={self.state_dir / 'data'}",
            f"--exec-root={self.state_dir / 'exec'}",
            f"--host={self.host}",
            f"--pidfile={self.pidfile}",
            "--iptables=false",
            "--ip-masq=false",
            "--ip-forward=false",
            "--bridge=none",
        ]

    def start(self, wait_seconds: float = 60) -> docker.DockerClient:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise NoEngine(
                    f"the private dockerd exited with code {self.process.returncode}: "
                    f"{self._last_log_line()}"
                )
            client = _try_connect(self.host, timeout=5)
            if client is not None:
                return client
            time.sleep(0.3)
        self.stop()
        raise NoEngine(f"the private dockerd did not answer within {wait_seconds:.0f}s")

    def stop(self, grace_seconds: float = 30) -> None:
        """Stop the daemon we started (by its pid), then its leftovers."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(grace_seconds)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def fingerprint(self) -> str | None:
        """What decides the facts a private engine reports (version, API version, storage
        driver): the dockerd binary's own version line, its command line and the daemon
        config it reads. None when ``dockerd --version`` does not answer."""
        binary = shutil.which("dockerd")
        if binary is None:
            return None
        said = run([binary, "--version"], env=os.environ, timeout=30)
        if not said.ok:
            return None
        try:
            config = DAEMON_CONFIG.read_bytes()
        except OSError:
            config = b""
        parts = [said.output.strip(), *self.command(), hashlib.sha256(config).hexdigest()]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    @property
    def facts_file(self) -> Path:
        return self.state_dir / "engine.json"

    def remember(self, info: EngineInfo) -> None:
        """Leave the running engine's facts for a later run that must not start it."""
        fingerprint = self.fingerprint()
        if fingerprint is not None:
            facts = {"fingerprint": fingerprint, **info.as_json()}
            write_atomically(self.facts_file, json.dumps(facts, indent=1) + "\n")

    def remembered(self) -> EngineInfo | None:
        """The facts the engine reported last time, if dockerd and its setup are unchanged."""
        try:
            facts = json.loads(self.facts_file.read_text())
            if facts["fingerprint"] != self.fingerprint():
                return None
            return EngineInfo(
                str(facts["version"]),
                str(facts["api_version"]),
                str(facts["storage_driver"]),
                managed=True,
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _last_log_line(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return lines[-1][-300:] if lines else "no log"


def _may_start_dockerd() -> bool:
    return shutil.which("dockerd") is not None and os.geteuid() == 0


def peek(state_dir: Path | None = None, host: str | None = None) -> EngineInfo | None:
    """The facts ``connect`` would report, without starting anything: from the engine if it
    answers, else (private engine) from what it left when it last ran, if dockerd and its
    setup are unchanged. None: only starting the engine can tell."""
    client = _try_connect(host or os.environ.get("DOCKER_HOST"))
    if client is not None:
        try:
            return _describe(client, managed=False, name=host)
        finally:
            client.close()
    if host or os.environ.get("CACHE_BISECT_ENGINE", "auto") == "external":
        return None
    managed = ManagedDockerd(state_dir or cache_dir() / "engine")
    client = _try_connect(managed.host, timeout=5)
    if client is not None:
        try:
            return _describe(client, managed=True)
        finally:
            client.close()
    return managed.remembered() if _may_start_dockerd() else None


@contextmanager
def connect(
    state_dir: Path | None = None, log: Callable[[str], None] = print, host: str | None = None
) -> Iterator[Engine]:
    """Yield the user's engine, else a private one started here and stopped on exit.

    CACHE_BISECT_ENGINE=external means: the user's engine or nothing. A ``host`` (one of
    several engines the user named) is that engine or nothing, and its name is recorded.
    """
    if host:
        named = _try_connect(host)
        if named is None:
            raise NoEngine(f"no Docker engine answers at {host}")
        with _serving(named, host, _describe(named, managed=False, name=host)) as engine:
            yield engine
        return
    client = _try_connect(os.environ.get("DOCKER_HOST"))
    if client is not None:
        with _serving(client, _user_host(), _describe(client, managed=False)) as engine:
            yield engine
        return
    target = os.environ.get("DOCKER_HOST") or "the default socket"
    no_engine = NoEngine(
        f"no Docker engine answers at {target}; start one or set DOCKER_HOST "
        "(or run as root with dockerd installed and the harness starts a private one)"
    )
    if os.environ.get("CACHE_BISECT_ENGINE", "auto") == "external":
        raise no_engine
    managed = ManagedDockerd(state_dir or cache_dir() / "engine")
    client = _try_connect(managed.host, timeout=5)
    if client is not None:  # another harness process runs the private engine: share it
        with _serving(client, managed.host, _managed_info(client, managed)) as engine:
            yield engine
        return
    if not _may_start_dockerd():
        raise no_engine
    log(f"no Docker engine answers at {target}: starting a private dockerd")
    client = managed.start()
    try:
        with _serving(client, managed.host, _managed_info(client, managed)) as engine:
            yield engine
    finally:
        managed.stop()


def _managed_info(client: docker.DockerClient, managed: ManagedDockerd) -> EngineInfo:
    """The private engine's facts, kept in its state so a stored rerun needs no engine."""
    info = _describe(client, managed=True)
    managed.remember(info)
    return info


@contextmanager
def _serving(client: docker.DockerClient, host: str, info: EngineInfo) -> Iterator[Engine]:
    """The engine for the caller's block; the client is closed whatever happens."""
    try:
        yield Engine(client, host, info)
    finally:
        client.close()
