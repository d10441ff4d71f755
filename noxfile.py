# /// script
# dependencies = [
#   "nox>=2025.2.9",
#   "docker>=7.1",
#   "packaging>=24",
#   "tabulate>=0.9",
#   "httpx>=0.27",
#   "uv>=0.9",
#   "PyYAML>=6",
#   "stamina>=24.2",
#   "filelock>=3.21",
#   "cattrs>=25.1",
# ]
# ///
"""Sessions of the cache-bisect harness, each a thin call into ``harness/``.

The harness runs in nox's own interpreter (the script block above makes nox provide its
dependencies); every docker-compose release under test gets an isolated venv of its own, made
by the harness with uv, holding only docker-compose and its dependencies.

    nox -s matrix                          the whole matrix of matrix.toml, then the tables
    nox -s "cell(1.20.0-cli1)"             one cell of it (nox -l lists them)
    nox -s bisect -- 1.20 1.22             the first release where the behaviour changes
    nox -s repro -- --compose 1.20.0       one ad-hoc cell
    nox -s publish -- --repo O/N --issue N post the tables to a GitHub issue
    nox -s lint                            ruff, mypy and the layer contracts
    nox -s unit                            tests that need no engine and no network
    nox -s engine                          tests on a real engine (and the package index)
    nox -s tests                           all of the above (needs a Docker engine)

Every session takes --help after `--`.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from xml.etree import ElementTree

import nox

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness.app.noxcells import matrix_cell_ids

CELLS = matrix_cell_ids(Path(__file__).resolve().parent / "matrix.toml")

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["tests"]


# Ctrl-C reaches the harness itself (one process group) and nox waits INTERRUPT_SECONDS for it
# to finish. A SIGINT or SIGTERM to nox alone never reaches the harness: nox then sends it
# SIGTERM, which the harness takes as Ctrl-C (builds stopped, what it made removed, finished
# cells stored), and gives it CLEANUP_SECONDS to do so before killing it.
INTERRUPT_SECONDS = 2
CLEANUP_SECONDS = 60


def _stop_session(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # nox stops a session it is told to stop as on Ctrl-C


def _harness(session: nox.Session, command: str, *args: str) -> None:
    previous = signal.signal(signal.SIGTERM, _stop_session)
    try:
        session.run(
            sys.executable,
            "-m",
            "harness",
            command,
            *args,
            *session.posargs,
            interrupt_timeout=INTERRUPT_SECONDS,
            terminate_timeout=CLEANUP_SECONDS,
        )
    finally:
        signal.signal(signal.SIGTERM, previous)


@nox.session(venv_backend="none")
def matrix(session: nox.Session) -> None:
    """Run every cell of matrix.toml (stored cells are reused) and write results/matrix.*."""
    _harness(session, "matrix")


@nox.session(venv_backend="none")
@nox.parametrize("cell", CELLS, ids=CELLS)
def cell(session: nox.Session, cell: str) -> None:
    """One cell of the default matrix, stored like the matrix stores it."""
    _harness(session, "matrix", "--only", cell)


@nox.session(venv_backend="none")
def repro(session: nox.Session) -> None:
    """One reproduction cell: --compose VERSION [--sdk] [--cli-build] [--scenario] [--json]."""
    _harness(session, "repro")


@nox.session(venv_backend="none")
def bisect(session: nox.Session) -> None:
    """First release where the cache behaviour changes: `-- LO HI` (e.g. 1.20 1.22)."""
    _harness(session, "bisect")


@nox.session(venv_backend="none")
def publish(session: nox.Session) -> None:
    """Post (or update) the result tables as a comment on a GitHub issue."""
    _harness(session, "publish")


LINTED = ("harness", "tests", "bench", "noxfile.py")
UNIT = ("-m", "not engine and not network")
ENGINE = ("-m", "engine or network")


def _install(session: nox.Session) -> None:
    session.install("-e", ".[test]")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff, mypy, the layer contracts (import-linter), and no function of complexity D+."""
    _install(session)
    session.run("ruff", "check", *LINTED)
    session.run("ruff", "format", "--check", *LINTED)
    session.run("mypy")
    session.run("lint-imports")
    tangled = session.run("radon", "cc", "-n", "D", "harness", silent=True)
    if isinstance(tangled, str) and tangled.strip():
        session.error(f"functions of cyclomatic complexity D or worse (split them):\n{tangled}")


@nox.session
def unit(session: nox.Session) -> None:
    """Tests that need no engine and no network (they pass with DOCKER_HOST pointing nowhere)."""
    _install(session)
    session.run("python", "-m", "pytest", "--strict-markers", *UNIT, *(session.posargs or ["-q"]))


@nox.session
def engine(session: nox.Session) -> None:
    """Tests on a real Docker engine and the real package index (they never skip)."""
    _install(session)
    session.run("python", "-m", "pytest", "--strict-markers", *ENGINE, *(session.posargs or ["-q"]))


NOWHERE = {"DOCKER_HOST": "unix:///nonexistent", "CACHE_BISECT_ENGINE": "external"}


@nox.session
def honest(session: nox.Session) -> None:
    """Engine tests run against no engine must all fail: lists any that pass (they test
    nothing the engine does, so they are mislabelled or check too little). Tests that start
    a dockerd of their own (marked dockerd) are left out: DOCKER_HOST is not their engine."""
    _install(session)
    report = Path(session.create_tmp()) / "no-engine.xml"
    session.run(
        "python", "-m", "pytest", "--strict-markers", "-m", "engine and not dockerd", "-q",
        "-p", "no:cacheprovider", f"--junitxml={report}", *session.posargs,
        env=NOWHERE, success_codes=[0, 1],
    )  # fmt: skip
    passed = [
        f"{case.get('classname')}::{case.get('name')}"
        for case in ElementTree.parse(report).iter("testcase")
        if not any(child.tag in ("failure", "error", "skipped") for child in case)
    ]
    if passed:
        session.error(f"{len(passed)} engine tests pass with no engine: {', '.join(passed)}")
    session.log("every engine test fails without an engine")


@nox.session
def tests(session: nox.Session) -> None:
    """Everything: lint, the whole test suite (engine tests included), then `honest`: the
    engine tests again with no engine, every one of which must fail (about a minute)."""
    lint(session)
    session.run("python", "-m", "pytest", "--strict-markers", *(session.posargs or ["-q"]))
    if not session.posargs:  # a chosen subset is not the suite honest checks
        honest(session)
