"""Recorded text names no folder of the machine that ran the cell (pure)."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from harness.core.failure import failure_kind
from harness.core.places import CELL, TEMP, without_folders, without_project

TEMP_NAME = st.text(string.ascii_lowercase + string.digits + "_", min_size=8, max_size=8)
FOLDER = st.from_regex(r"/[a-z]{1,8}(/[a-z0-9_.-]{1,12}){0,3}", fullmatch=True)


@given(FOLDER, st.text(string.ascii_lowercase + "-", min_size=1, max_size=20), TEMP_NAME)
def test_the_cell_folder_and_temp_names_are_placeholders(temp: str, run: str, name: str) -> None:
    cell = f"{temp}/cache-bisect-run-{run}/cell-0123456789ab"
    text = (
        f"ERROR: {cell}/project/docker-compose.yml: bad\n"
        f"FileNotFoundError: [Errno 2] No such file or directory: '{temp}/tmp{name}'"
    )
    hidden = without_folders(text, cell, temp)
    assert hidden == (
        f"ERROR: {CELL}/project/docker-compose.yml: bad\n"
        f"FileNotFoundError: [Errno 2] No such file or directory: '{TEMP}'"
    )
    assert without_folders(hidden, cell, temp) == hidden


def test_other_paths_and_longer_names_stay() -> None:
    text = "/tmp/tmpabcdefgh1 /tmp/tmpabcdefgh /var/tmp/tmpabcdefgh /usr/src/blah.txt"
    hidden = without_folders(text, "/tmp/cell-x", "/tmp")
    assert hidden == f"/tmp/tmpabcdefgh1 {TEMP} /var/tmp/tmpabcdefgh /usr/src/blah.txt"


def test_a_failure_that_names_a_temp_file_compares_equal_across_runs() -> None:
    kinds = {
        without_folders(
            failure_kind("compose", f"FileNotFoundError: No such file: '/tmp/tmp{name}'", {}) or "",
            "/tmp/cache-bisect-run-1/cell-a",
            "/tmp",
        )
        for name in ("h738oezy", "9gd8krdc")
    }
    assert kinds == {f"compose: FileNotFoundError: No such file: '{TEMP}'"}


@given(FOLDER, st.from_regex(r"[a-z][a-z0-9_-]{0,10}", fullmatch=True))
def test_a_projects_folder_is_named_by_its_folder_name(parent: str, name: str) -> None:
    folder = f"{parent}/{name}"
    text = f"cp: cannot open '{folder}/secret.key': Permission denied; {folder}-old stays"
    hidden = without_project(text, (folder, folder + "/"), name)
    assert hidden == f"cp: cannot open '{name}/secret.key': Permission denied; {folder}-old stays"
    assert without_project(hidden, (folder,), name) == hidden
