"""One error root: every public exception descends from HarnessError, whose kind sets the exit
code, and ``python -m harness`` turns it into one line."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import harness
from harness.__main__ import main
from harness.core.errors import HarnessError, Interrupted, RemoteError, UserError

MODULES = sorted(m.name for m in pkgutil.walk_packages(harness.__path__, "harness.") if not m.ispkg)


def _public_exceptions() -> list[str]:
    found = []
    for name in MODULES:
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == name
                and not attr.startswith("_")
            ):
                found.append(f"{name}.{attr}")
    return found


def test_every_public_exception_descends_from_the_root() -> None:
    public = _public_exceptions()
    assert "harness.edges.engine.NoEngine" in public  # the walk reaches the edges
    strays = [
        path
        for path in public
        if not issubclass(
            getattr(importlib.import_module(path.rsplit(".", 1)[0]), path.rsplit(".", 1)[1]),
            HarnessError,
        )
    ]
    assert strays == []


@pytest.mark.parametrize(
    ("error", "code"),
    [(UserError, 2), (RemoteError, 1), (HarnessError, 1), (Interrupted, 130)],
)
def test_the_kind_of_error_is_the_exit_code(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    error: type[HarnessError],
    code: int,
) -> None:
    def stop(argv: list[str]) -> int:
        raise error("the reason, in one line")

    monkeypatch.setattr("harness.cli.repro.main", stop)
    assert main(["repro"]) == code
    out, err = capsys.readouterr()
    assert out == "" and err == "error: the reason, in one line\n"


def test_an_unknown_command_is_usage() -> None:
    assert main(["nope"]) == 2
