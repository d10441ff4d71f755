"""Nothing of the user's is ever changed (issue 25), measured on a real engine: the user's tree
and every file its links reach, and the engine's images, tags, containers, networks, volumes
and build cache, before and after a run, a BuildKit run, and each way of interrupting one."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker.errors
import pytest

from harness.core.labels import HARNESS
from harness.edges.baseimage import busybox_rootfs, find_static_busybox
from harness.edges.engine import Engine
from harness.edges.runs import remove_orphan_workdirs, remove_orphans, stop_orphan_processes
from tests.snapshots import engine_snapshot, tree_snapshot
from tests.test_compose_v2_engine import _buildkit_cli

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.engine


@dataclass(frozen=True)
class UsersProject:
    root: Path  # the user's files: the project and a folder its links reach out to
    project: Path
    image: str  # the service's `image:`, a tag the user's own image holds


def _import(engine: Engine, repository: str, tag: str) -> None:
    rootfs = busybox_rootfs(find_static_busybox())
    engine.client.api.import_image_from_data(rootfs, repository=repository, tag=tag)


def _make_project(root: Path, name: str, dockerfile: str) -> Path:
    """Dockerfile a relative link into docker/, a link to a file out of the project by an
    absolute path, one into it by an absolute path; files of a developer (1000:1000)."""
    project, outside = root / "proj", root / "outside"
    (project / "docker").mkdir(parents=True)
    (project / "src").mkdir()
    outside.mkdir()
    (project / "docker" / "Dockerfile.app").write_text(dockerfile)
    (project / "src" / "main.py").write_text("print('hello')\n")
    (outside / "settings.txt").write_text("shared=1\n")
    (project / "Dockerfile").symlink_to("docker/Dockerfile.app")
    (project / "settings.txt").symlink_to(outside / "settings.txt")
    (project / "sources").symlink_to(project / "src")
    (project / "docker-compose.yml").write_text(
        f"version: '2.1'\nservices:\n  web:\n    build: .\n    image: {name}\n"
    )
    for path in [root, *root.rglob("*")]:
        os.lchown(path, 1000, 1000)
    (project / "docker" / "Dockerfile.app").chmod(0o640)
    return project


@pytest.fixture(scope="module")
def users_images(engine: Engine) -> Iterator[tuple[str, str]]:
    """The user's base image and the image their service's `image:` names (unique names)."""
    token = uuid.uuid4().hex[:8]
    base, image = f"example/base:safety{token}", f"example/web:safety{token}"
    for name in (base, image):
        with pytest.raises(docker.errors.ImageNotFound):  # never someone's: removed after
            engine.client.images.get(name)
        _import(engine, *name.split(":"))
    yield base, image
    for name in (base, image):
        engine.client.images.remove(name, force=True)


@pytest.fixture
def users(users_images: tuple[str, str], tmp_path: Path) -> UsersProject:
    base, image = users_images
    root = tmp_path / "user"
    dockerfile = f"FROM {base}\nCOPY . /app\nRUN ls /app\n"
    return UsersProject(root, _make_project(root, image, dockerfile), image)


def _harness(*args: str, engine: Engine, tmp: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=ROOT,
        env={**os.environ, "DOCKER_HOST": engine.host, "TMPDIR": str(tmp)},
        capture_output=True,
        text=True,
        timeout=1200,
    )


@pytest.fixture
def tmp() -> Iterator[Path]:
    """The runs' TMPDIR, short (the recording proxy's unix socket path has a length limit)."""
    folder = Path(tempfile.mkdtemp(prefix="cbt-"))
    yield folder
    shutil.rmtree(folder)


def _ours(tmp: Path) -> list[Path]:
    """The harness's temporary folders (uv keeps lock files of its own there)."""
    return sorted(tmp.glob("cache-bisect-*"))


def test_buildkit_repro_changes_nothing_of_the_users(
    engine: Engine, users: UsersProject, tmp: Path
) -> None:
    tree, images = tree_snapshot(users.root), engine_snapshot(engine.client)
    cli = _buildkit_cli().path
    for compose in ("2.40.3",):
        done = _harness(
            "repro", "--compose", compose, "--builder", "buildkit", "--cli", cli,
            "--project", str(users.project), "--service", "web", engine=engine, tmp=tmp,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "verdict: shared" in done.stdout, done.stdout  # both built from the copy
    assert tree_snapshot(users.root) == tree
    after = engine_snapshot(engine.client)
    assert after["images"] == images["images"]  # every image and tag, and no new one
    assert set(images["build_cache"]) <= set(after["build_cache"])  # type: ignore[arg-type]
    assert {key: after[key] for key in ("containers", "networks", "volumes")} == {
        key: images[key] for key in ("containers", "networks", "volumes")
    }
    assert _ours(tmp) == []


def test_buildkit_matrix_and_bisect_change_nothing_of_the_users(
    engine: Engine, users: UsersProject, tmp: Path, tmp_path: Path
) -> None:
    """The matrix and bisect with BuildKit, explain on, on the user's project: its files, its
    images and tags, and the engine's other objects as before; results only where asked."""
    tree, images = tree_snapshot(users.root), engine_snapshot(engine.client)
    config = tmp_path / "m.toml"
    config.write_text(
        '[matrix]\ncompose = ["2.18.1", "2.40.3"]\nbuilder = ["buildkit"]\n[run]\nexplain = true\n'
    )
    results = tmp_path / "results"
    same = (
        "--config", str(config), "--cli", _buildkit_cli().path, "--project", str(users.project),
        "--service", "web", "--results", str(results),
    )  # fmt: skip
    done = _harness("matrix", *same, engine=engine, tmp=tmp)
    assert done.returncode == 0, done.stderr
    verdicts = [(c["compose"], c["verdict"]) for c in _cells(results / "matrix.json")]
    assert verdicts == [("2.18.1", "shared"), ("2.40.3", "shared")], verdicts
    done = _harness("bisect", "2.18.1", "2.40.3", "--builder", "buildkit", *same, engine=engine,
                    tmp=tmp)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "0 new builds" in done.stdout, done.stdout  # both ends from the matrix's store
    assert tree_snapshot(users.root) == tree
    after = engine_snapshot(engine.client)
    assert after["images"] == images["images"]  # every image and tag, and no new one
    assert set(images["build_cache"]) <= set(after["build_cache"])  # type: ignore[arg-type]
    for kind in ("containers", "networks", "volumes"):
        assert after[kind] == images[kind], kind
    assert _ours(tmp) == []


def _cells(matrix: Path) -> list[dict[str, object]]:
    cells = json.loads(matrix.read_text())["cells"]
    assert isinstance(cells, list)
    return cells


SLOW = "FROM {base}\nCOPY . /app\nRUN sleep 60\n"


def _started(engine: Engine, process: subprocess.Popen[str], timeout: float = 600) -> None:
    """Wait until a cell's build runs its slow RUN step."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        for container in engine.client.api.containers(all=True, filters={"label": HARNESS}):
            if "sleep 60" in container.get("Command", ""):
                return
        time.sleep(0.2)
    output = process.communicate(timeout=60)[0] if process.poll() is not None else ""
    pytest.fail(f"no build started: {output}")


def _nox(
    args: list[str], engine: Engine, tmp: Path, session: str = "repro"
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-s", session, "--", *args],
        cwd=ROOT,
        env={**os.environ, "DOCKER_HOST": engine.host, "TMPDIR": str(tmp)},
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a process group of its own, as a terminal gives a command
    )


def _interrupt_and_check(
    engine: Engine,
    process: subprocess.Popen[str],
    way: str,
    root: Path,
    tmp: Path,
    before: tuple[dict[str, tuple[object, ...]], dict[str, object]],
) -> None:
    """Interrupt ``process`` once its cell builds (``way``: Ctrl-C to its process group, or
    SIGINT or SIGTERM to nox alone): honoured within seconds, with no traceback, and the
    user's tree, images and containers as ``before`` the run, no temp folder left."""
    tree, images = before
    _started(engine, process)
    signalled = time.monotonic()
    if way == "ctrl-c to the process group":
        os.killpg(process.pid, signal.SIGINT)
    else:
        process.send_signal(signal.SIGINT if "SIGINT" in way else signal.SIGTERM)
    output, _ = process.communicate(timeout=120)
    took = time.monotonic() - signalled
    assert took < 30, (took, output)
    assert process.returncode != 0, output
    assert "Traceback" not in output, output
    assert tree_snapshot(root) == tree
    after = engine_snapshot(engine.client)
    assert after["images"] == images["images"] and after["containers"] == images["containers"]
    assert _ours(tmp) == []  # no temp folder left


@pytest.mark.parametrize(
    "way",
    ["ctrl-c to the process group", "SIGINT to nox alone", "SIGTERM to nox alone"],
)
def test_an_interrupt_is_honoured_within_seconds_and_leaves_nothing(
    engine: Engine, users_images: tuple[str, str], tmp_path: Path, tmp: Path, way: str
) -> None:
    base, image = users_images
    root = tmp_path / "user"
    project = _make_project(root, image, SLOW.format(base=base))
    before = tree_snapshot(root), engine_snapshot(engine.client)
    process = _nox(
        ["--compose", "1.29.2", "--cli-build", "0", "--project", str(project), "--service", "web"],
        engine,
        tmp,
    )
    _interrupt_and_check(engine, process, way, root, tmp, before)


@pytest.mark.parametrize("session", ["matrix", "bisect"])
def test_an_interrupted_matrix_or_bisect_leaves_nothing(
    engine: Engine, users_images: tuple[str, str], tmp_path: Path, tmp: Path, session: str
) -> None:
    """SIGINT to nox alone while a matrix's or a bisect's cell builds on the user's project."""
    base, image = users_images
    root = tmp_path / "user"
    project = _make_project(root, image, SLOW.format(base=base))
    config = tmp_path / "m.toml"
    config.write_text('[matrix]\ncompose = ["1.29.2"]\ncli_build = ["0"]\n')
    results = tmp_path / "results"
    before = tree_snapshot(root), engine_snapshot(engine.client)
    ends = ["1.28.0", "1.29.2", "--cli-build", "0"] if session == "bisect" else []
    process = _nox(
        [*ends, "--config", str(config), "--results", str(results), "--project", str(project),
         "--service", "web"],
        engine, tmp, session,
    )  # fmt: skip
    _interrupt_and_check(engine, process, "SIGINT to nox alone", root, tmp, before)
    stored = list(results.glob("cells/*.json")) if results.exists() else []
    assert stored == [], stored  # an interrupted cell is not an answer


def test_after_sigkill_the_next_runs_cleanup_leaves_the_user_as_before(
    engine: Engine, users_images: tuple[str, str], tmp_path: Path, tmp: Path
) -> None:
    base, image = users_images
    root = tmp_path / "user"
    project = _make_project(root, image, SLOW.format(base=base))
    tree, images = tree_snapshot(root), engine_snapshot(engine.client)
    process = subprocess.Popen(
        [sys.executable, "-m", "harness", "repro", "--compose", "1.29.2", "--cli-build", "0",
         "--project", str(project), "--service", "web"],
        cwd=ROOT,
        env={**os.environ, "DOCKER_HOST": engine.host, "TMPDIR": str(tmp)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    _started(engine, process)
    process.kill()
    process.wait()
    assert _ours(tmp), "SIGKILL leaves the run no chance to remove its folder"
    assert engine.client.images.list(all=True, filters={"label": HARNESS})
    # what the next run does first (harness.app.session opens every engine this way)
    stop_orphan_processes()
    assert remove_orphan_workdirs(tmp)
    remove_orphans(engine.client)
    assert tree_snapshot(root) == tree
    after = engine_snapshot(engine.client)
    assert after["images"] == images["images"] and after["containers"] == images["containers"]
    assert _ours(tmp) == []


def test_explain_under_a_long_tmpdir_is_one_line_and_leaves_nothing(
    engine: Engine, users: UsersProject, tmp: Path
) -> None:
    """The recording proxy's unix socket cannot lie that deep (AF_UNIX: 107 bytes)."""
    deep = tmp / ("d" * 100)
    deep.mkdir()
    tree, images = tree_snapshot(users.root), engine_snapshot(engine.client)
    done = _harness(
        "repro", "--compose", "1.29.2", "--explain", "--project", str(users.project),
        "--service", "web", engine=engine, tmp=deep,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: --explain records each build through a unix socket"), last
    assert last.endswith("set TMPDIR to a shorter folder"), last
    assert "Traceback" not in done.stderr, done.stderr
    assert tree_snapshot(users.root) == tree
    assert engine_snapshot(engine.client)["images"] == images["images"]
    assert _ours(deep) == []
