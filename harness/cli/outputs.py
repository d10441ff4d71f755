"""The files a command writes after its work: checked before any work, never lost after.

Whatever can be known up front is checked before the first build (a folder where a file goes,
a file where a folder goes, no permission). What can only fail later (a full disk, a folder
made in the file's place meanwhile) is one line, and the JSON that could not be written is
printed on standard output instead, so the work of a long run is not lost with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from harness.core.errors import HarnessError
from harness.edges.files import (
    WriteError,
    check_folder_writable,
    check_writable,
    write_atomically,
)
from harness.present.console import say


def check_outputs(files: Iterable[Path | None], folders: Iterable[Path] = ()) -> None:
    """Every file and folder the command will write to, checked now (WriteError if not)."""
    for folder in folders:
        check_folder_writable(folder)
    for path in files:
        if path is not None:
            check_writable(path)


class OutputLost(HarnessError):
    """A file could not be written after the work (the input was fine: exit 1); the JSON
    went to standard output."""


def write_outputs(json_text: str, files: Sequence[tuple[Path, str]], after: str = "") -> None:
    """Write ``files`` (the JSON ones first); on the first failure print ``json_text`` on
    standard output and raise OutputLost saying so (``after`` adds what else is kept)."""
    for path, text in files:
        try:
            write_atomically(path, text)
        except WriteError as error:
            say(json_text.rstrip("\n"))
            kept = f"; {after}" if after else ""
            raise OutputLost(f"{error}: the JSON is on standard output above{kept}") from None
