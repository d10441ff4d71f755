"""Shared fixtures. Engine tests use a real Docker engine: the one DOCKER_HOST names (as .ci/run
sets up), else a private dockerd the harness starts. They never skip: no engine, no green."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.app.releases import Releases
from harness.app.runner import CellRunner
from harness.core.config import load_config
from harness.edges.builders import find_cli
from harness.edges.engine import Engine, NoEngine, connect
from harness.edges.index import ReleaseIndex
from harness.edges.venvs import EnvironmentFactory

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Everything the harness caches during the tests lives in a temp dir removed afterwards."""
    cache = tmp_path_factory.mktemp("cache")
    previous = os.environ.get("CACHE_BISECT_HOME")
    os.environ["CACHE_BISECT_HOME"] = str(cache)
    yield cache
    if previous is None:
        os.environ.pop("CACHE_BISECT_HOME", None)
    else:
        os.environ["CACHE_BISECT_HOME"] = previous


@pytest.fixture(scope="session")
def engine(private_cache: Path) -> Iterator[Engine]:
    try:
        with connect(private_cache / "engine", log=lambda line: None) as connected:
            yield connected
    except NoEngine as error:
        pytest.fail(f"engine tests need a Docker engine: {error}", pytrace=False)


@pytest.fixture(scope="session")
def releases(private_cache: Path) -> Releases:
    return Releases(ReleaseIndex(private_cache), log=lambda line: None)


@pytest.fixture(scope="session")
def runner(engine: Engine, releases: Releases, private_cache: Path) -> CellRunner:
    return CellRunner(
        engine=engine,
        cli=find_cli(),
        environments=EnvironmentFactory(private_cache / "venvs", python=sys.executable),
        releases=releases,
        compat=load_config(ROOT / "matrix.toml").compat,
        log=lambda line: None,
    )
