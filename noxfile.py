"""Sessions of the cache-bisect harness. Each one is thin: it installs the harness into its
own venv and calls into ``harness/``. The docker-compose releases under test get venvs of
their own, made by the harness with uv, so they never share packages with the harness.

    nox -s repro -- --compose 1.20.0      one cell (add --help for the options)
    nox -s tests                          the test suite (needs a Docker engine)
"""

from __future__ import annotations

import nox

nox.needs_version = ">=2024.10.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["tests"]


def _harness(session: nox.Session, *extras: str) -> None:
    session.install("-e", f".[{','.join(extras)}]" if extras else ".")


@nox.session
def repro(session: nox.Session) -> None:
    """One reproduction cell: `nox -s repro -- --compose 1.20.0 [--json out.json]` (--help)."""
    _harness(session)
    session.run("python", "-m", "harness", "repro", *session.posargs)


@nox.session
def tests(session: nox.Session) -> None:
    """Lint and the whole test suite, engine tests included (pass pytest args after --)."""
    _harness(session, "test")
    session.run("ruff", "check", "harness", "tests", "noxfile.py")
    session.run("python", "-m", "pytest", *(session.posargs or ["-q"]))
