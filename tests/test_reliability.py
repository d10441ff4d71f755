"""Issue #20, items 4-6 without an engine: outputs checked before any work and never lost
after it, a matrix file of the wrong shape or size, stored cells that cannot be trusted, and
bisect ranges that span two different programs."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from harness.__main__ import main as run_harness
from harness.app.store import ResultStore
from harness.cli import bisect as bisect_cli
from harness.cli import matrix as matrix_cli
from harness.cli import repro as repro_cli
from harness.cli.outputs import OutputLost, write_outputs
from harness.core.config import ConfigError, load_config
from harness.edges.runs import WORKDIR_PREFIX, remove_orphan_workdirs, workdir_prefix
from tests.factories import cell_result

ROOT = Path(__file__).resolve().parent.parent
CONFIG = str(ROOT / "matrix.toml")


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to reach the index (the first real work) fails the test."""

    def refuse() -> None:
        raise AssertionError("reached the index: the input was not checked first")

    for module in (repro_cli, bisect_cli, matrix_cli):
        monkeypatch.setattr(module, "load_releases", refuse)


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    _, err = capsys.readouterr()
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize("section", ["compat", "run", "matrix"])
def test_a_section_that_is_not_a_table_is_one_line_naming_it(tmp_path: Path, section: str) -> None:
    config = tmp_path / "m.toml"
    rest = "" if section == "matrix" else '[matrix]\ncompose = ["1.20.0"]\n'
    config.write_text(f"{section} = 5\n{rest}")
    with pytest.raises(ConfigError) as error:
        load_config(config)
    assert str(error.value) == f"{config}:1: {section} must be a [{section}] table, not 5"


def test_a_config_without_end_is_refused_at_its_size_limit(
    no_work: None, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    code = run_harness(["repro", "--compose", "1.20.0", "--config", "/dev/zero"])
    assert code == 2 and time.monotonic() - started < 10
    assert _one_line(capsys) == "error: /dev/zero: larger than 1 MiB: not a matrix file\n"


def _stored(tmp_path: Path, warnings: list[str]) -> tuple[ResultStore, Path, str]:
    store = ResultStore(tmp_path, warn=warnings.append)
    key = "b" * 24
    store.put(key, cell_result("1.20.0", "diverged", 3))
    return store, tmp_path / f"{key}.json", key


def test_a_stored_cell_of_random_bytes_is_rebuilt_with_a_warning(tmp_path: Path) -> None:
    warnings: list[str] = []
    store, path, key = _stored(tmp_path, warnings)
    path.write_bytes(b"\xff" + random.Random(20).randbytes(4096))
    assert store.get(key) is None
    (warning,) = warnings
    assert str(path) in warning and "utf-8" in warning and "\n" not in warning


def test_a_stored_diverged_cell_without_its_step_is_rebuilt(tmp_path: Path) -> None:
    warnings: list[str] = []
    store, path, key = _stored(tmp_path, warnings)
    assert store.get(key) is not None
    data = json.loads(path.read_text())
    data["diverged_at"] = None
    path.write_text(json.dumps(data))
    assert store.get(key) is None
    (warning,) = warnings
    assert str(path) in warning and "diverged_at" in warning


def test_a_stored_shared_cell_with_a_diverged_step_is_rebuilt(tmp_path: Path) -> None:
    warnings: list[str] = []
    store, path, key = _stored(tmp_path, warnings)
    data = json.loads(path.read_text())
    data["verdict"] = "shared"
    path.write_text(json.dumps(data))
    assert store.get(key) is None
    assert "diverged_at" in warnings[0]


@pytest.mark.parametrize(("low", "high"), [("1.29", "2.20"), ("2.20", "1.29.2")])
def test_bisect_across_1x_and_2x_is_refused_in_one_line(
    no_work: None, capsys: pytest.CaptureFixture[str], low: str, high: str
) -> None:
    assert run_harness(["bisect", low, high, "--config", CONFIG]) == 2
    err = _one_line(capsys)
    assert "docker-compose 1.x (Python) and compose 2.x (the Go binary)" in err


def test_repro_json_naming_a_folder_stops_before_any_work(
    no_work: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = run_harness(
        ["repro", "--compose", "1.20.0", "--config", CONFIG, "--json", str(tmp_path)]
    )
    assert code == 2
    assert _one_line(capsys) == f"error: cannot write {tmp_path}: it is a folder (name a file)\n"


@pytest.mark.parametrize("name", ["bisect.json", "bisect.md", "out.json"])
def test_bisect_outputs_that_are_folders_stop_before_any_work(
    no_work: None, capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str
) -> None:
    (tmp_path / name).mkdir()
    argv = ["1.20", "1.22", "--config", CONFIG, "--results", str(tmp_path)]
    code = run_harness(["bisect", *argv, "--json", str(tmp_path / "out.json")])
    assert code == 2
    assert _one_line(capsys).startswith(f"error: cannot write {tmp_path / name}: it is a folder")


@pytest.mark.parametrize(
    ("made", "extra", "named"),
    [
        ("matrix.json", [], "matrix.json"),
        ("matrix.md", [], "matrix.md"),
        ("shard-1-of-2.json", ["--shard", "1/2"], "shard-1-of-2.json"),
    ],
)
def test_matrix_outputs_that_are_folders_stop_before_any_work(
    no_work: None,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    made: str,
    extra: list[str],
    named: str,
) -> None:
    (tmp_path / made).mkdir()
    code = run_harness(["matrix", "--config", CONFIG, "--results", str(tmp_path), *extra])
    assert code == 2
    assert _one_line(capsys).startswith(f"error: cannot write {tmp_path / named}: it is a folder")


def test_matrix_cells_folder_that_is_a_file_stops_before_any_work(
    no_work: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "cells").write_text("")
    code = run_harness(["matrix", "--config", CONFIG, "--results", str(tmp_path)])
    assert code == 2
    assert f"{tmp_path / 'cells'} is not a folder" in _one_line(capsys)


def test_an_output_lost_after_the_work_prints_the_json_instead(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "matrix.json"
    target.mkdir()  # made in the file's place after the check: only the write can tell
    text = json.dumps({"cells": [1, 2]}) + "\n"
    with pytest.raises(OutputLost) as error:
        write_outputs(text, [(target, text)], after="every cell is stored")
    out, _ = capsys.readouterr()
    assert json.loads(out) == {"cells": [1, 2]}
    assert str(error.value).startswith(f"cannot write {target}: ")
    assert str(error.value).endswith("the JSON is on standard output above; every cell is stored")


_FULL_DISK = """
import resource, sys
from pathlib import Path
from harness.cli.matrix import write_tables
from harness.core.config import parse_config
from harness.core.errors import HarnessError
from tests.factories import cell_result
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))  # the disk is full after 4 KiB
cells = [cell_result(f"1.{n}.0", "diverged", 3, notes=("x" * 400,)) for n in range(20, 30)]
try:
    write_tables(Path(sys.argv[1]), cells, parse_config('[matrix]\\ncompose = ["1.20.0"]\\n'))
except HarnessError as error:
    print(error, file=sys.stderr)
"""


def test_tables_that_the_disk_refuses_are_one_line_and_the_json_is_printed(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _FULL_DISK, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith(f"cannot write {tmp_path / 'matrix.json'}: File too large")
    assert "every cell is stored: run again to write the tables" in done.stderr
    assert len(json.loads(done.stdout)["cells"]) == 10
    assert list(tmp_path.iterdir()) == []  # no half-written file, no temporary left


COMPOSE = "docker-compose.yml"
DOCKERFILE = "FROM busybox\nADD a.txt /a.txt\n"


@pytest.mark.parametrize(
    ("compose", "dockerfile", "words"),
    [
        ("services:\n  web: nginx\n", DOCKERFILE,
         "service 'web' must be a mapping (e.g. build: .), not a string 'nginx'"),
        ("services:\n  web: [a, b]\n", DOCKERFILE,
         "service 'web' must be a mapping (e.g. build: .), not a list"),
        ("services:\n  web:\n    build:\n      context: .\n      args: A=1\n", DOCKERFILE,
         "build.args must be a mapping (KEY: value) or a list of \"KEY=value\" strings, not a "
         "string 'A=1'"),
        ("services:\n  web:\n    build:\n      context: .\n      args:\n        A: [1, 2]\n",
         DOCKERFILE, "build.args must be a mapping"),
        ("services:\n  web:\n    build:\n      context: .\n      args:\n        - A: 1\n",
         DOCKERFILE, "not a list"),
        ("services:\n  web:\n    build:\n      context: 5\n", DOCKERFILE,
         "build.context must be a string, not a number 5"),
        ("services:\n  web:\n    build: ../elsewhere\n", DOCKERFILE,
         "build.context '../elsewhere' leaves the project folder"),
        ("services:\n  web:\n    build:\n      context: .\n      dockerfile: ../Dockerfile\n",
         DOCKERFILE, "build.dockerfile '../Dockerfile' leaves the project folder"),
        ("services:\n  web:\n    build: https://github.com/o/r.git\n", DOCKERFILE,
         "is remote: only a local folder"),
        ("services:\n  web:\n    build: missing\n", DOCKERFILE,
         "builds missing, which is not a folder"),
        ("services:\n  web:\n    build: .\n", b"FROM busybox\n# caf\xe9\nADD a.txt /a.txt\n",
         "builds Dockerfile: line 2 holds byte 0xe9, which is not UTF-8"),
        ("services:\n  web:\n    build: .\n", "RUN true\n",
         "Dockerfile: RUN before the first FROM"),
    ],
    ids=["service-string", "service-list", "args-string", "args-value-list", "args-list-of-maps",
         "context-number", "context-outside", "dockerfile-outside", "context-remote",
         "context-missing", "dockerfile-not-utf8", "dockerfile-refused"],
)  # fmt: skip
def test_a_project_the_harness_cannot_build_is_one_line_before_any_work(
    no_work: None,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    compose: str,
    dockerfile: str | bytes,
    words: str,
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / COMPOSE).write_text(compose)
    data = dockerfile.encode() if isinstance(dockerfile, str) else dockerfile
    (project / "Dockerfile").write_bytes(data)
    (project / "a.txt").write_text("a\n")
    argv = ["repro", "--compose", "1.20.0", "--config", CONFIG, "--project", str(project)]
    assert run_harness([*argv, "--service", "web"]) == 2
    err = _one_line(capsys)
    assert err.startswith(f"error: --project {project}: ") and words in err


def test_a_context_that_leaves_the_project_through_a_link_is_refused(
    no_work: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "Dockerfile").write_text(DOCKERFILE)
    project = tmp_path / "project"
    project.mkdir()
    (project / "app").symlink_to(outside)
    (project / COMPOSE).write_text("services:\n  web:\n    build: app\n")
    argv = ["matrix", "--config", CONFIG, "--project", str(project), "--service", "web"]
    assert run_harness([*argv, "--results", str(tmp_path)]) == 2
    err = _one_line(capsys)
    assert "builds app, which leaves the project folder (through a link)" in err


@pytest.mark.parametrize(
    ("build", "words"),
    [
        ("      target: nope\n", "target stage nope could not be found"),
        ("      args:\n        BASE: ''\n", "base name (${BASE}) should not be blank"),
    ],
)
def test_a_multi_stage_build_the_builder_would_refuse_is_refused_before_any_work(
    no_work: None, capsys: pytest.CaptureFixture[str], tmp_path: Path, build: str, words: str
) -> None:
    """Several stages are judged; an unknown target or a base name that build args leave
    blank is refused before the engine starts, not from the cell."""
    (tmp_path / COMPOSE).write_text("services:\n  web:\n    build:\n      context: .\n" + build)
    (tmp_path / "Dockerfile").write_text(
        "ARG BASE=busybox\nFROM ${BASE} AS one\nRUN true\nFROM one\nRUN true\n"
    )
    argv = ["bisect", "1.20", "1.22", "--config", CONFIG, "--results", str(tmp_path / "r")]
    assert run_harness([*argv, "--project", str(tmp_path), "--service", "web"]) == 2
    assert words in _one_line(capsys)


_KILLED_RUN = """
import sys, tempfile, time
from harness.edges.runs import workdir_prefix
print(tempfile.mkdtemp(prefix=workdir_prefix(), dir=sys.argv[1]), flush=True)
time.sleep(600)
"""


def test_work_folders_of_killed_runs_are_removed_and_nothing_else(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_RUN, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE
    )
    assert child.stdout is not None
    killed = Path(child.stdout.readline().decode().strip())
    (killed / "context").mkdir()
    (killed / "context" / "Dockerfile").write_text("FROM a\n")
    child.kill()  # SIGKILL: the run had no chance to remove its folder
    child.wait()
    live = Path(tempfile.mkdtemp(prefix=workdir_prefix(), dir=tmp_path))  # this run's own
    other = tmp_path / f"{WORKDIR_PREFIX}not-ours"
    other.mkdir()
    (tmp_path / f"{killed.name[:-1]}x").symlink_to(killed)  # a link named like one: kept
    assert remove_orphan_workdirs(tmp_path) == [killed]
    assert not killed.exists() and live.is_dir() and other.is_dir()
