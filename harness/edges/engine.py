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
from typing import TYPE_CHECKING

from filelock import FileLock, ReadWriteLock, Timeout

from harness.core.errors import RemoteError
from harness.core.model import EngineInfo
from harness.edges.files import write_atomically
from harness.edges.paths import cache_dir
from harness.edges.process import run

if TYPE_CHECKING:  # the docker SDK loads when an engine is asked something: a stored rerun
    import docker  # asks none, and starts faster without it

DAEMON_CONFIG = Path("/etc/docker/daemon.json")  # a private dockerd reads it too


class NoEngine(RemoteError):
    """No engine answers and none could be started; the message says how to get one."""


@dataclass
class Engine:
    """A connected engine: the SDK client, the DOCKER_HOST for child processes, and facts."""

    client: docker.DockerClient
    host: str
    info: EngineInfo


def _try_connect(host: str, timeout: float = 10) -> docker.DockerClient | None:
    if host.startswith("unix://") and not Path(host.removeprefix("unix://")).exists():
        return None  # no socket, no engine (a stopped private one): asked without the SDK
    import docker
    import docker.errors
    import requests.exceptions

    try:
        client = docker.DockerClient(base_url=host, timeout=timeout)
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
    import docker.constants

    default = docker.constants.DEFAULT_UNIX_SOCKET.replace("http+unix://", "unix://")
    return os.environ.get("DOCKER_HOST") or default


class ManagedDockerd:
    """A private dockerd whose every file lives under ``state_dir``.

    ``dockerd`` is the daemon binary: the machine's, or one the harness provisioned by
    version (then ``path`` puts its folders, e.g. its docker-proxy, first on the daemon's
    PATH; containerd and runc stay the machine's).
    """

    def __init__(
        self,
        state_dir: Path,
        dockerd: str = "dockerd",
        path: tuple[Path, ...] = (),
        said: str | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.dockerd = dockerd
        self.path = path
        self.said = said  # what ``dockerd --version`` says, when known (a provisioned engine)
        self.socket = state_dir / "docker.sock"
        self.pidfile = state_dir / "docker.pid"
        self.log = state_dir / "dockerd.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def command(self) -> list[str]:
        return [
            self.dockerd,
            f"--data-root={self.state_dir / 'data'}",
            f"--exec-root={self.state_dir / 'exec'}",
            f"--host={self.host}",
            f"--pidfile={self.pidfile}",
            "--iptables=false",
            "--ip-masq=false",
            "--ip-forward=false",
            "--bridge=none",
        ]

    def _environment(self) -> dict[str, str]:
        folders = [str(folder) for folder in self.path]
        return {**os.environ, "PATH": os.pathsep.join([*folders, os.environ.get("PATH", "")])}

    @contextmanager
    def lease(self, log: Callable[[str], None] = print) -> Iterator[docker.DockerClient]:
        """The running engine for the caller's block, shared with every other run.

        Owner protocol: each run holds a shared lease (a reader lock) while it uses the
        engine; starting and stopping happen under an exclusive gate lock, and the run that
        leaves last (nobody else holds a lease) stops the daemon. A daemon whose starter was
        killed is adopted like any other and stopped by the last run out; one that no longer
        answers is stopped before a fresh start. Locks die with their process, so a killed
        run never blocks the others.

        The last run out also prunes BuildKit's build cache: the cells remove their images by
        label, but BuildKit's records carry none, and a private engine's data outlives its
        runs. Only then is it safe (under the gate, no lease held, none can start): while a
        run holds a lease, any cell's next build may still need its first build's records.
        """
        self.state_dir.mkdir(parents=True, exist_ok=True)
        users = ReadWriteLock(self.state_dir / "users.lock", is_singleton=False)
        with self._gate():
            client = _try_connect(self.host, timeout=5)
            if client is None:
                if not self._nobody_else():
                    raise NoEngine(
                        f"the private engine at {self.host} is in use by another run "
                        "but does not answer"
                    )
                self.stop()  # a daemon left by a killed run that no longer answers
                log(f"starting a private dockerd {self._version_said()}".rstrip())
                client = self.start()
            users.acquire_read()
        try:
            yield client
        finally:
            with self._gate():
                users.release()
                users.close()
                if self._nobody_else():
                    _prune_build_cache(client, log)
                    self.stop()
            client.close()

    def _gate(self) -> FileLock:
        return FileLock(self.state_dir / "gate.lock")

    def _nobody_else(self) -> bool:
        probe = ReadWriteLock(self.state_dir / "users.lock", is_singleton=False)
        try:
            with probe.write_lock(blocking=False):
                return True
        except Timeout:
            return False
        finally:
            probe.close()

    def start(self, wait_seconds: float = 60) -> docker.DockerClient:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._forget_dead_containerd()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self._environment(),
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

    def running_pid(self) -> int | None:
        """The pid of our daemon (the pidfile's, if that process runs with our pidfile)."""
        try:
            pid = int(self.pidfile.read_text().strip())
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return None
        return pid if f"--pidfile={self.pidfile}".encode() in command else None

    def stop(self, grace_seconds: float = 30) -> None:
        """Stop our daemon, started here or by another (maybe killed) run: by the pid it
        wrote, only when that process is the dockerd of this state folder."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(grace_seconds)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            return
        pid = self.running_pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        while self.running_pid() == pid and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.running_pid() == pid:
            os.kill(pid, signal.SIGKILL)

    def _version_said(self) -> str:
        said = self._said()
        return f"({said})" if said else ""

    def _said(self) -> str | None:
        """What ``dockerd --version`` says (None: it does not answer)."""
        if self.said is not None:
            return self.said
        binary = shutil.which(self.dockerd)
        said = run([binary, "--version"], env=os.environ, timeout=30) if binary else None
        return said.output.strip() if said and said.ok else None

    def fingerprint(self) -> str | None:
        """What decides the facts a private engine reports (version, API version, storage
        driver): the dockerd binary's own version line, its command line and the daemon
        config it reads. None when ``dockerd --version`` does not answer."""
        said = self._said()
        if said is None:
            return None
        try:
            config = DAEMON_CONFIG.read_bytes()
        except OSError:
            config = b""
        parts = [said, *self.command(), hashlib.sha256(config).hexdigest()]
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

    def _forget_dead_containerd(self) -> None:
        """Remove the pidfile of a containerd that died with a killed daemon.

        dockerd waits for the containerd its pidfile names while that process exists; one left
        a zombie (nobody reaps it where the daemon's parent was killed) exists forever, and the
        restart times out. A live containerd is left to dockerd, which reuses it.
        """
        pidfile = self.state_dir / "exec" / "containerd" / "containerd.pid"
        try:
            pid = int(pidfile.read_text().strip())
        except (OSError, ValueError):
            return
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            stat = ""
        state = stat.rpartition(")")[2].split()[:1]
        if state in ([], ["Z"], ["X"]):
            pidfile.unlink(missing_ok=True)

    def _last_log_line(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return lines[-1][-300:] if lines else "no log"


def _prune_build_cache(client: docker.DockerClient, log: Callable[[str], None]) -> None:
    """Remove every BuildKit build cache record of a private engine (all of them are the
    harness's; never called for an engine the user named). An engine that no longer answers
    keeps its records: the daemon is stopped all the same."""
    import docker.errors
    import requests.exceptions

    try:
        pruned = client.api.prune_builds(all=True)
    except (docker.errors.DockerException, requests.exceptions.RequestException) as error:
        said = (str(error).splitlines() or [type(error).__name__])[0]
        log(f"the private engine's build cache was not pruned: {said}")
        return
    records = len(pruned.get("CachesDeleted") or [])
    if records:
        size = pruned.get("SpaceReclaimed") or 0
        said = f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.1f} kB"
        log(f"pruned the private engine's build cache: {records} records, {said}")


def _may_start_dockerd() -> bool:
    return shutil.which("dockerd") is not None and os.geteuid() == 0


def peek(
    state_dir: Path | None = None, host: str | None = None, managed: ManagedDockerd | None = None
) -> EngineInfo | None:
    """The facts ``connect`` would report, without starting anything: from the engine if it
    answers, else (private engine) from what it left when it last ran, if dockerd and its
    setup are unchanged. None: only starting the engine (or failing to) can tell."""
    if managed is None:
        client = _try_connect(host or _user_host())
        if client is not None:
            try:
                return _describe(client, managed=False, name=host)
            finally:
                client.close()
        if host or os.environ.get("DOCKER_HOST") or _external_only():
            return None
        managed = ManagedDockerd(state_dir or cache_dir() / "engine")
    client = _try_connect(managed.host, timeout=5)
    if client is not None:
        try:
            return _describe(client, managed=True)
        finally:
            client.close()
    return managed.remembered() if os.geteuid() == 0 else None


def _external_only() -> bool:
    return os.environ.get("CACHE_BISECT_ENGINE", "auto") == "external"


@contextmanager
def connect(
    state_dir: Path | None = None,
    log: Callable[[str], None] = print,
    host: str | None = None,
    managed: ManagedDockerd | None = None,
) -> Iterator[Engine]:
    """Yield the engine the user named, else the default socket's, else a private one.

    A ``host`` (``--engine HOST``) or a ``DOCKER_HOST`` is that engine or nothing: a run
    never silently builds on an engine the user did not name. ``managed`` is a private
    engine the user asked for by version. CACHE_BISECT_ENGINE=external forbids the private
    engine. A private engine is shared between runs (see ``ManagedDockerd.lease``).
    """
    if managed is None:
        named = host or os.environ.get("DOCKER_HOST")
        client = _try_connect(host or _user_host())
        if client is not None:
            info = _describe(client, managed=False, name=host)
            with _serving(client, host or _user_host(), info) as engine:
                yield engine
            return
        if host:
            raise NoEngine(f"no Docker engine answers at {host} (--engine)")
        if named:
            raise NoEngine(
                f"no Docker engine answers at DOCKER_HOST={named}: start it, or unset "
                "DOCKER_HOST to use the default socket or a private engine"
            )
        if _external_only() or not _may_start_dockerd():
            raise NoEngine(
                "no Docker engine answers at the default socket; start one or set DOCKER_HOST "
                "(or run as root with dockerd installed and the harness starts a private one)"
            )
        managed = ManagedDockerd(state_dir or cache_dir() / "engine")
        log("no Docker engine answers at the default socket: using a private dockerd")
    with managed.lease(log) as client:
        info = _describe(client, managed=True)
        managed.remember(info)
        with _serving(client, managed.host, info) as engine:
            yield engine


@contextmanager
def _serving(client: docker.DockerClient, host: str, info: EngineInfo) -> Iterator[Engine]:
    """The engine for the caller's block; the client is closed whatever happens."""
    try:
        yield Engine(client, host, info)
    finally:
        client.close()
