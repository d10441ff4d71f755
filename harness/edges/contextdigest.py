"""A digest of the build context exactly as a cell would send it, for the result store's key.

Listing inputs by hand (names, content) missed owners and modes, so a chown of one file reused
a stale answer. Instead the scenario is materialised the way a cell does it (same copy, same
owners and modes, a placeholder base image in FROM) and every entry is hashed: path, type,
mode, uid, gid, link target and content, plus the compose build section and the Dockerfile.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from dataclasses import asdict
from pathlib import Path

from harness.core.scenarios import Scenario
from harness.edges.context import ContextError, Owner, materialize
from harness.edges.runs import workdir_prefix

# Stands for the per-cell base image, which differs in every cell and never changes a verdict.
PLACEHOLDER_BASE = "cache-bisect/base:digest"


def context_digest(scenario: Scenario, owner: Owner | None) -> str:
    """The digest of the context ``materialize(scenario, ..., owner)`` makes."""
    with tempfile.TemporaryDirectory(prefix=workdir_prefix()) as workdir:
        try:
            context = materialize(scenario, Path(workdir) / "project", PLACEHOLDER_BASE, owner)
        except ContextError as error:  # the cell will say why; its key names the reason
            return hashlib.sha256(f"no working copy: {error}".encode()).hexdigest()[:16]
        unread = ("root", "fixture", "description", "varies", "expect")  # words, not inputs
        declaration = {k: v for k, v in asdict(scenario).items() if k not in unread}
        if not scenario.onbuild:  # absent before the key existed: stored cells keep their keys
            del declaration["onbuild"]
        digest = hashlib.sha256(
            json.dumps(
                {
                    "scenario": declaration,
                    "build": asdict(context.build),
                    "dockerfile": str(context.dockerfile.relative_to(context.path)),
                    "dockerfile_text": context.dockerfile.read_text(),
                },
                sort_keys=True,
            ).encode()
        )
        here = os.path.realpath(workdir)  # links re-pointed into the copy name its folder
        for entry in tree_entries(context.path):
            entry[5] = str(entry[5]).replace(here, "<workdir>")
            digest.update(json.dumps(entry).encode() + b"\n")
    return digest.hexdigest()[:16]


def tree_entries(root: Path) -> list[list[object]]:
    """Every entry under ``root`` (root included, links not followed), sorted by path."""
    paths = [root]
    for folder, dirs, files in os.walk(root, followlinks=False):
        paths += [Path(folder) / name for name in dirs + files]
    return sorted((_entry(root, path) for path in paths), key=lambda entry: str(entry[0]))


def _entry(root: Path, path: Path) -> list[object]:
    status = path.lstat()
    kind, link, content = "other", "", ""
    if stat.S_ISLNK(status.st_mode):
        kind, link = "link", os.readlink(path)
    elif stat.S_ISDIR(status.st_mode):
        kind = "dir"
    elif stat.S_ISREG(status.st_mode):
        kind, content = "file", hashlib.sha256(path.read_bytes()).hexdigest()
    relative = path.relative_to(root).as_posix()
    mode = stat.S_IMODE(status.st_mode)
    return [relative, kind, mode, status.st_uid, status.st_gid, link, content]
