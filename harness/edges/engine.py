"""The Docker engine the harness builds on: the user's, or a private one it starts itself.

CI machines and fresh checkouts have no engine running. When nothing answers and we may start
``dockerd`` (installed, running as root), the harness runs a private engine with its own
data-root, exec-root, socket and pidfile, and without touching the host's firewall or
networking (``--iptables=false --bridge=none``): RUN steps need no network here.
"""

from __future__ import annotations

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
from harness.edges.paths import cache_dir


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


def _describe(client: docker.DockerClient, managed: bool) -> EngineInfo:
    version = client.version()
    info = client.info()
    return EngineInfo(
        version=str(version.get("Version", "unknown")),
        api_version=str(version.get("ApiVersion", "unknown")),
        storage_driver=str(info.get("Driver", "unknown")),
        managed=managed,
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

    def _last_log_line(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return lines[-1][-300:] if lines else "no log"


def _may_start_dockerd() -> bool:
    return shutil.which("dockerd") is not None and os.geteuid() == 0


@contextmanager
def connect(state_dir: Path | None = None, log: Callable[[str], None] = print) -> Iterator[Engine]:
    """Yield the user's engine, else a private one started here and stopped on exit.

    CACHE_BISECT_ENGINE=external means: the user's engine or nothing.
    """
    client = _try_connect(os.environ.get("DOCKER_HOST"))
    if client is not None:
        try:
            yield Engine(client, _user_host(), _describe(client, managed=False))
        finally:
            client.close()
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
        try:
            yield Engine(client, managed.host, _describe(client, managed=True))
        finally:
            client.close()
        return
    if not _may_start_dockerd():
        raise no_engine
    log(f"no Docker engine answers at {target}: starting a private dockerd")
    client = managed.start()
    try:
        yield Engine(client, managed.host, _describe(client, managed=True))
    finally:
        client.close()
        managed.stop()
