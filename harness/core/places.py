"""Text a cell records (reasons, failures, logs, notes) without the folders of the machine that
ran it.

Results are stored, committed and published. A cell's working folder and the temp files its
builders make (docker-compose 1.x's iidfile) have random names under this machine's temp
folder: they say nothing about the versions, differ in every run (so a failure that repeats
would not compare equal) and name a machine path. Pure.
"""

from __future__ import annotations

import re

CELL = "<cell>"  # the cell's working folder
TEMP = "<temp>"  # a temp file or folder a builder made (Python's tempfile names)


def without_folders(text: str, cell_folder: str, temp_folder: str) -> str:
    """``text`` with ``cell_folder`` (and everything under it) named ``<cell>``, and any
    ``tmpXXXXXXXX`` entry of ``temp_folder`` named ``<temp>``."""
    if cell_folder:
        text = text.replace(cell_folder.rstrip("/"), CELL)
    temp = temp_folder.rstrip("/")
    if temp:
        text = re.sub(r"(?<![\w./-])" + re.escape(temp) + r"/tmp[a-z0-9_]{8}(?![\w.-])", TEMP, text)
    return text


def without_project(text: str, folders: tuple[str, ...], name: str) -> str:
    """``text`` with a user's project folder (each spelling in ``folders``: as given, and the
    path its links resolve to) named by its folder ``name``: results are published, and the
    place a project is checked out on a machine is nobody else's business."""
    for folder in sorted({f.rstrip("/") for f in folders if f.rstrip("/")}, key=len, reverse=True):
        text = re.sub(re.escape(folder) + r"(?![\w.-])", name, text)
    return text
