"""Bad input is one line before any work; files are written whole, with a normal mode."""

from __future__ import annotations

import errno
import json
import os
import signal
import stat
import threading
from pathlib import Path

import pytest

from harness.__main__ import main as run_harness
from harness.app.store import ResultStore
from harness.cli import bisect as bisect_cli
from harness.cli import matrix as matrix_cli
from harness.cli import repro as repro_cli
from harness.core.config import ConfigError, parse_config
from harness.core.errors import UserError
from harness.core.scenarios import ScenarioError
from harness.core.text import printable
from harness.edges.files import WriteError, check_writable, write_atomically
from harness.edges.fixtures import project_scenario
from tests.factories import cell_result

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("value", ["inf", "nan", "-inf", "1e400"])
def test_a_timeout_that_is_not_finite_is_rejected_with_its_line(value: str) -> None:
    text = f'[matrix]\ncompose = ["1.20.0"]\n[run]\ntimeout = {value}\n'
    with pytest.raises(ConfigError, match=r"matrix.toml:4: \[run\] timeout: must be a positive"):
        parse_config(text)


def harness(*argv: str) -> int:
    """``python -m harness ARGV...`` in this process: errors are printed and become exit codes."""
    return run_harness(list(argv))


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to reach the index (the first real work) fails the test."""

    def refuse() -> None:
        raise AssertionError("reached the index: the input was not checked first")

    monkeypatch.setattr(repro_cli, "load_releases", refuse)
    monkeypatch.setattr(bisect_cli, "load_releases", refuse)
    monkeypatch.setattr(matrix_cli, "load_releases", refuse)


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--compose", "foo"], "'foo' is not a version"),
        (["--compose", "1.20.0", "--sdk", "foo"], "'foo' is not a version"),
        (["--compose", "1.20.0", "--uid", "-5"], "'-5' must be an integer id"),
        (["--compose", "1.20.0", "--gid", "99999999999"], "must be an integer id"),
        (["--compose", "1.20.0", "--timeout", "-1"], "'-1' must be a positive number"),
        (["--compose", "1.20.0", "--timeout", "inf"], "'inf' must be a positive number"),
        (["--compose", "1.20.0", "--timeout", "nan"], "'nan' must be a positive number"),
    ],
)
def test_bad_repro_options_are_one_line_before_any_work(
    no_work: None, capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    with pytest.raises(SystemExit) as exit_:
        repro_cli.main(argv)
    _, err = capsys.readouterr()
    assert exit_.value.code == 2
    assert words in err and "Traceback" not in err and err.count("\n") == 1


@pytest.mark.parametrize("flag", ["--json"])
def test_an_output_that_cannot_be_written_stops_repro_before_any_work(
    no_work: None, capsys: pytest.CaptureFixture[str], tmp_path: Path, flag: str
) -> None:
    code = harness(
        "repro", "--compose", "1.20.0", "--config", str(ROOT / "matrix.toml"), flag, "/proc/x.json"
    )
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("error: cannot write /proc/x.json")


def test_matrix_results_that_cannot_be_written_stop_before_any_work(
    no_work: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code = harness("matrix", "--config", str(ROOT / "matrix.toml"), "--results", "/proc/res")
    _, err = capsys.readouterr()
    assert code == 2 and err.startswith("error: cannot write /proc/res") and err.count("\n") == 1


def test_bisect_results_that_cannot_be_written_stop_before_any_work(
    no_work: None, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["1.20", "1.22", "--config", str(ROOT / "matrix.toml"), "--results", "/proc/res"]
    code = harness("bisect", *argv)
    _, err = capsys.readouterr()
    assert code == 2 and err.startswith("error: cannot write /proc/res") and err.count("\n") == 1


@pytest.mark.network
def test_bisect_of_one_release_says_there_is_nothing_to_bisect(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    monkeypatch.setenv("CACHE_BISECT_ENGINE", "external")
    code = harness("bisect", "1.20.0", "1.20.0", "--config", str(ROOT / "matrix.toml"))
    out, err = capsys.readouterr()
    assert code == 2 and "nothing to bisect" in err and err.count("\n") == 1
    assert "1 releases" not in out


def test_check_writable() -> None:
    with pytest.raises(WriteError, match=r"cannot write /proc/x\.json"):
        check_writable(Path("/proc/x.json"))


def test_atomic_writes_get_a_normal_mode_and_unique_temporary_names(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        target = tmp_path / "out" / "matrix.json"
        texts = [json.dumps({"writer": n, "pad": "x" * 200_000}) for n in range(8)]
        threads = [threading.Thread(target=write_atomically, args=(target, t)) for t in texts]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        os.umask(old)
    assert target.read_text() in texts  # one whole file, never a mix
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert sorted(p.name for p in target.parent.iterdir()) == ["matrix.json"]


def test_a_full_disk_is_one_line_naming_the_path_and_errno(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    store = ResultStore(tmp_path / "cells")
    with pytest.raises(UserError) as error:
        store.put("k" * 24, cell_result("1.20.0", "shared"))
    message = str(error.value)
    assert message.startswith(f"cannot write {tmp_path / 'cells' / ('k' * 24 + '.json')}")
    assert "ENOSPC" in message and "\n" not in message
    assert list((tmp_path / "cells").iterdir()) == []  # no temporary file left behind


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda data: data.pop("verdict"), "verdict"),
        (lambda data: data.update(verdict="great"), "great"),
    ],
)
def test_a_stored_cell_of_the_wrong_shape_is_rebuilt_with_a_warning_naming_it(
    tmp_path: Path, change, why: str
) -> None:
    warnings: list[str] = []
    store = ResultStore(tmp_path, warn=warnings.append)
    key = "a" * 24
    store.put(key, cell_result("1.20.0", "shared"))
    path = tmp_path / f"{key}.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    assert store.get(key) is None
    (warning,) = warnings
    assert str(path) in warning and why in warning and "\n" not in warning


def test_nox_lets_the_harness_finish_its_cleanup_after_ctrl_c() -> None:
    import noxfile

    calls: list[dict[str, object]] = []

    class Session:
        posargs = ()

        def run(self, *args: str, **kwargs: object) -> None:
            calls.append(kwargs)

    noxfile._harness(Session(), "matrix")  # type: ignore[arg-type]
    (kwargs,) = calls
    # nox waits briefly for a harness that got Ctrl-C itself, then sends SIGTERM (which the
    # harness takes as Ctrl-C) and waits for the cleanup; the engine test sends each signal.
    assert kwargs["interrupt_timeout"] <= 5  # type: ignore[operator]
    assert kwargs["terminate_timeout"] >= 30  # type: ignore[operator]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # given back after the run


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"docker-compose.yml": "services:\n  web:\n    build: .\n", "Dockerfile": "RUN x\n"},
            "Dockerfile: RUN before the first FROM",
        ),
        (
            {
                "docker-compose.yml": "services:\n  web:\n    build:\n"
                "      context: .\n      dockerfile: gone.Dockerfile\n"
            },
            "service 'web' builds gone.Dockerfile, which cannot be read (No such file",
        ),
        (
            {"docker-compose.yml": "services:\n  web:\n    build: .\n  db: [\n"},
            "docker-compose.yml: not valid YAML at line 5, column 1: expected the node content",
        ),
        (
            {"docker-compose.yaml": "services:\n  web:\n    build: x\n    image: a: b\n"},
            "docker-compose.yaml: not valid YAML at line 4, column 13: mapping values",
        ),
    ],
)
def test_a_broken_project_is_one_line_saying_where(
    tmp_path: Path, files: dict[str, str], message: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(ScenarioError) as error:
        project_scenario(tmp_path, "web")
    assert str(error.value).startswith(f"--project {tmp_path}: ")
    assert message in str(error.value) and "\n" not in str(error.value)


def test_printable_text_has_no_control_characters_or_lone_surrogates() -> None:
    assert printable("ok\r\x1b[2Kfake\n\ud800") == "ok \\x1b[2Kfake \\ud800"
    assert printable("a\tb\nc\x07", keep_newlines=True) == "a\tb\nc\\x07"
    printable("\udcff").encode("utf-8")  # printing it cannot raise


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["foo", "1.21"], "argument LO: 'foo' is not a version"),
        (["1.20", "1.21", "--sdk", "foo"], "argument --sdk: 'foo' is not a version"),
        (["1.20", "1.21", "--package", "docker", "--compose", "x"], "'x' is not a version"),
    ],
)
def test_bad_bisect_options_are_one_line_before_any_work(
    no_work: None, capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    with pytest.raises(SystemExit) as exit_:
        bisect_cli.main(argv)
    _, err = capsys.readouterr()
    assert exit_.value.code == 2 and words in err and err.count("\n") == 1


@pytest.mark.network
def test_bisect_bad_bound_lists_the_nearest_releases(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Needs the package index (the nearest releases), never the engine."""
    code = harness("bisect", "1.20.7", "1.22", "--results", str(tmp_path))
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1
    assert "1.20.7" in err and "1.20.1" in err and "1.21.0" in err


def test_bisect_sdk_needs_the_compose_to_hold(
    no_work: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert harness("bisect", "3.1", "3.3", "--package", "docker") == 2
    _, err = capsys.readouterr()
    assert err == (
        "error: --package docker needs --compose VERSION (the compose release to hold)\n"
    )
