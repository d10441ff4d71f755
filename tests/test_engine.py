"""The private engine: started when nothing answers, stopped (by pid) when done."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import docker.constants
import pytest
import requests.exceptions

from harness.core.model import EngineInfo
from harness.edges import engine as engine_module
from harness.edges.engine import ManagedDockerd, NoEngine, connect, peek


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.engine
@pytest.mark.dockerd
def test_private_engine_starts_and_stops(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path_factory.mktemp("m")
    messages: list[str] = []
    with connect(managed=ManagedDockerd(state), log=messages.append) as engine:
        assert engine.info.managed is True
        assert engine.host == f"unix://{state}/docker.sock"
        assert engine.client.ping()
        pid = int((state / "docker.pid").read_text())
        assert _alive(pid)
        networks = {network.name for network in engine.client.networks.list()}
        assert "bridge" not in networks  # no default bridge: host networking untouched
    assert messages and "starting a private dockerd" in messages[0]
    assert not _alive(pid)
    # Stopped, it still tells its facts (for the store key) from what it left, unchanged:
    assert peek(managed=ManagedDockerd(state)) == engine.info
    assert not _alive(pid) and not (state / "docker.sock").exists()


def test_a_private_engine_is_not_trusted_after_its_setup_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    managed = ManagedDockerd(tmp_path)
    info = EngineInfo("20.10.24", "1.41", "overlay2", managed=True)
    monkeypatch.setattr(ManagedDockerd, "fingerprint", lambda self: "dockerd A")
    managed.remember(info)
    assert managed.remembered() == info
    monkeypatch.setattr(ManagedDockerd, "fingerprint", lambda self: "dockerd B")
    assert managed.remembered() is None
    assert ManagedDockerd(tmp_path / "never-ran").remembered() is None


@pytest.mark.engine
@pytest.mark.dockerd
def test_the_fingerprint_follows_dockerd_and_its_command(tmp_path: Path) -> None:
    first, second = ManagedDockerd(tmp_path / "a"), ManagedDockerd(tmp_path / "b")
    assert first.fingerprint() == first.fingerprint() != second.fingerprint()


def test_managed_command_keeps_the_host_network_alone(tmp_path: Path) -> None:
    command = ManagedDockerd(tmp_path).command()
    assert "--iptables=false" in command and "--bridge=none" in command
    assert f"--data-root={tmp_path / 'data'}" in command
    assert f"--pidfile={tmp_path / 'docker.pid'}" in command


def test_no_dockerd_and_no_engine_says_how_to_get_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setattr(docker.constants, "DEFAULT_UNIX_SOCKET", f"http+unix://{tmp_path}/no.sock")
    monkeypatch.setattr(engine_module, "_may_start_dockerd", lambda: False)
    with pytest.raises(NoEngine, match="start one or set DOCKER_HOST"), connect(tmp_path):
        pass


@pytest.mark.parametrize("named", ["unix:///nonexistent/cache-bisect.sock", "garbage"])
def test_a_docker_host_that_does_not_answer_stops_the_run_naming_it(
    named: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never a silent private engine in place of the one the user named (issue #20.1)."""
    monkeypatch.setenv("DOCKER_HOST", named)
    monkeypatch.setenv("CACHE_BISECT_ENGINE", "auto")
    monkeypatch.setattr(engine_module, "_may_start_dockerd", lambda: True)
    expected = f"no Docker engine answers at DOCKER_HOST={named}:"
    with pytest.raises(NoEngine, match=expected), connect(tmp_path / "never"):
        pass
    assert not (tmp_path / "never").exists()
    assert peek(tmp_path / "never") is None


def test_a_dead_containerds_pidfile_is_forgotten_and_a_live_ones_kept(tmp_path: Path) -> None:
    """dockerd waits forever for a containerd its pidfile names while that process exists; one
    that died with a killed daemon must not stop the restart (a zombie counts as dead)."""
    daemon = ManagedDockerd(tmp_path)
    pidfile = tmp_path / "exec" / "containerd" / "containerd.pid"
    pidfile.parent.mkdir(parents=True)
    pidfile.write_text(str(os.getpid()))
    daemon._forget_dead_containerd()
    assert pidfile.exists()
    zombie = subprocess.Popen(["true"])
    while Path(f"/proc/{zombie.pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z":
        time.sleep(0.01)
    pidfile.write_text(str(zombie.pid))
    daemon._forget_dead_containerd()
    assert not pidfile.exists()
    zombie.wait()
    pidfile.write_text(str(zombie.pid))  # reaped: no such process
    daemon._forget_dead_containerd()
    assert not pidfile.exists()


class _Pruning:
    """An SDK client whose build-cache prune answers ``answer`` (or raises it)."""

    def __init__(self, answer: object) -> None:
        self.api = self
        self.answer = answer

    def prune_builds(self, all: bool = False) -> object:
        assert all is True  # every record: a private engine's are all the harness's
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        ({"CachesDeleted": ["a", "b"], "SpaceReclaimed": 2486}, ["2 records, 2.5 kB"]),
        ({"CachesDeleted": ["a"], "SpaceReclaimed": 3_400_000}, ["1 records, 3.4 MB"]),
        ({"CachesDeleted": None, "SpaceReclaimed": 0}, []),
        (requests.exceptions.ReadTimeout(), ["not pruned: ReadTimeout"]),
    ],
)
def test_the_prune_says_what_it_removed_or_why_not_in_one_line(
    answer: object, said: list[str]
) -> None:
    lines: list[str] = []
    engine_module._prune_build_cache(_Pruning(answer), lines.append)  # type: ignore[arg-type]
    assert len(lines) == len(said)
    assert all(line.endswith(end) for line, end in zip(lines, said, strict=True))
