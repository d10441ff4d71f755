"""Writing files so that a reader never sees half of one: one helper for every file we write.

A unique temporary name in the same folder (two runs never collide), fsync, then rename; the
file gets the mode a plain ``open()`` would give it under the current umask, not mkstemp's 0600.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

from harness.core.errors import UserError


class WriteError(UserError):
    """A file could not be written; the message names the path and the reason."""


def _reason(error: OSError) -> str:
    """e.g. "No space left on device (ENOSPC)": the words, and the name to search for."""
    name = errno.errorcode.get(error.errno or 0)
    words = error.strerror or str(error)
    return f"{words} ({name})" if name else words


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step, or leave it as it was."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
    except OSError as error:
        raise WriteError(f"cannot write {path}: {_reason(error)}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8", errors="surrogateescape") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(error, OSError):
            raise WriteError(f"cannot write {path}: {_reason(error)}") from None
        raise


def check_writable(path: Path) -> None:
    """Fail now, before any work, when the file ``path`` could not be written later (a
    folder in its place, a file where a folder of its path must be, no permission)."""
    if path.is_dir():
        raise WriteError(f"cannot write {path}: it is a folder (name a file)")
    _check_folder(path.parent, path)
    if path.exists() and not os.access(path, os.W_OK):
        raise WriteError(f"cannot write {path}: permission denied")


def check_folder_writable(folder: Path) -> None:
    """Fail now, before any work, when files could not be made in ``folder`` later."""
    _check_folder(folder, folder)


def _check_folder(folder: Path, path: Path) -> None:
    """Permission bits say nothing for root or on special file systems (/proc), so a file is
    really created and removed in ``folder`` (or its nearest existing parent, if the folder
    is still to be made)."""
    probe_dir = folder
    while not probe_dir.exists() and not probe_dir.is_symlink():
        probe_dir = probe_dir.parent
    if not probe_dir.is_dir():
        raise WriteError(f"cannot write {path}: {probe_dir} is not a folder")
    try:
        handle, probe = tempfile.mkstemp(dir=probe_dir, prefix=".write-check-")
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise WriteError(f"cannot write {path}: {_reason(error)}") from None
