"""The noxfile's script block must give nox the harness's own dependencies, and no others."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_script_dependencies_match_the_project() -> None:
    source = (ROOT / "noxfile.py").read_text()
    block = re.search(r"^# /// script\n((?:#.*\n)+?)# ///$", source, re.MULTILINE)
    assert block, "noxfile.py has no PEP 723 script block"
    script = tomllib.loads("".join(line[2:] + "\n" for line in block.group(1).splitlines()))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert sorted(script["dependencies"]) == sorted([*project["dependencies"], "nox>=2025.2.9"])
