"""The committed results name no place on the machine that made them: every absolute path in
a field that can hold one of the host's (the CLI, the engine, reasons, notes, logs, remedies,
probe details, reproduce lines) and in the tables is in an image or a build context (a path a
Dockerfile instruction or an explain entry names), or one of the forms results use instead:
``$CACHE_BISECT_HOME/...``, ``<cell>``, ``<temp>``, ``~``, ``<cli>``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

RESULTS = Path(__file__).resolve().parent.parent / "results"
# An absolute path: a slash that follows no name, placeholder or scheme it belongs to.
ABSOLUTE = re.compile(r"(?:(?<=://)|(?<![\w.$<>~/:-]))/[\w.@+-]+(?:/[\w.@+-]*)*")
# Fields that hold what is in an image or a build context, never a place on the host.
IN_IMAGE = {"steps", "build_steps", "diverged_at", "explain", "minimal"}
CLI_NAMES = re.compile(r"^([\w.+-]+|<cli>|\$CACHE_BISECT_HOME/.+)$")


def _strings(value: object, skip: set[str], key: str = "") -> Iterator[tuple[str, str]]:
    """Every text under ``value`` with the key that holds it, less what ``skip`` names."""
    if isinstance(value, dict):
        for name, item in value.items():
            if name not in skip:
                yield from _strings(item, skip, name)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, skip, key)
    elif isinstance(value, str):
        yield key, value


def _cells(document: dict[str, object]) -> Iterator[dict[str, object]]:
    cells = document.get("cells") or [p.get("cell") for p in document.get("probes") or []]
    yield from (cell for cell in cells if isinstance(cell, dict))


def _in_images(document: dict[str, object]) -> set[str]:
    """The paths the document's instructions name (in an image) and its explain entries
    name (in a build context, which an engine's error names from the root)."""
    found: set[str] = set()
    for cell in _cells(document):
        inside = {name: cell.get(name) for name in ("steps", "build_steps", "diverged_at")}
        for _, text in _strings(inside, set()):
            found.update(ABSOLUTE.findall(text))
        for key, text in _strings({name: cell.get(name) for name in IN_IMAGE}, set()):
            if key == "path":
                found.add("/" + text)
    return found


def _documents() -> list[Path]:
    """Committed files only (a local run's stored cells and --project results: git-ignored)."""
    local = {"cells", "projects"}
    found = RESULTS.rglob("*.json")
    return sorted((p for p in found if local.isdisjoint(p.relative_to(RESULTS).parts)), key=str)


def test_there_are_committed_results_to_check() -> None:
    names = {str(path.relative_to(RESULTS)) for path in _documents()}
    assert {"matrix.json", "bisect.json", "scenarios/matrix.json"} <= names


@pytest.mark.parametrize("path", _documents(), ids=lambda p: str(p.relative_to(RESULTS)))
def test_a_result_names_no_machine_path(path: Path) -> None:
    document = json.loads(path.read_text())
    allowed = _in_images(document)
    found = {
        (key, token)
        for key, text in _strings(document, IN_IMAGE)
        for token in ABSOLUTE.findall(text)
        if token not in allowed
    }
    assert not found, f"{path.name} names places on the machine that made it: {sorted(found)}"
    clis = {str(cell["cli"]["path"]) for cell in _cells(document)}  # type: ignore[index]
    assert clis and all(CLI_NAMES.match(cli) for cli in clis), clis


@pytest.mark.parametrize("path", _documents(), ids=lambda p: str(p.relative_to(RESULTS)))
def test_its_tables_name_no_machine_path(path: Path) -> None:
    tables = path.with_suffix(".md")
    allowed = _in_images(json.loads(path.read_text()))
    found = sorted(set(ABSOLUTE.findall(tables.read_text())) - allowed)
    assert not found, f"{tables.name} names places on the machine that made it: {found}"


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ('"path": "/usr/local/bin/docker"', ["/usr/local/bin/docker"]),
        ("no Docker engine answers at unix:///run/x.sock", ["/run/x.sock"]),
        ("cannot read /home/dev/project/Dockerfile: gone", ["/home/dev/project/Dockerfile"]),
        ("$CACHE_BISECT_HOME/venvs/a/bin/python <cell>/p <temp> ~/x unix://<socket>", []),
        ("see https://github.com/docker/compose/pull/7978", []),
        ("ADD blah.txt /usr/src/blah.txt", ["/usr/src/blah.txt"]),
    ],
)
def test_the_check_sees_an_absolute_path(text: str, found: list[str]) -> None:
    assert ABSOLUTE.findall(text) == found
