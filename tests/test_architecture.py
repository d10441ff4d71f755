"""The folder tree is the architecture: the layers' contracts hold, and the core is pure."""

from __future__ import annotations

import pkgutil
import shutil
import subprocess
import sys

import pytest

import harness.core

CORE_MODULES = sorted(f"harness.core.{m.name}" for m in pkgutil.iter_modules(harness.core.__path__))


def test_import_contracts_hold() -> None:
    """cli > app > present | edges > core, and core imports no I/O library (import-linter)."""
    lint_imports = shutil.which("lint-imports")
    assert lint_imports, "import-linter is part of the test dependencies"
    done = subprocess.run([lint_imports], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-2000:]
    assert "0 broken" in done.stdout


@pytest.mark.parametrize("module", CORE_MODULES)
def test_importing_a_core_module_loads_no_engine_or_network_library(module: str) -> None:
    probe = (
        f"import sys, {module}\n"
        "loaded = sorted({'docker', 'httpx', 'subprocess', 'socket'} & set(sys.modules))\n"
        "print(','.join(name for name in loaded if name in ('docker', 'httpx')))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "", f"{module} loads {done.stdout.strip()}"


def test_there_is_a_core_to_check() -> None:
    assert "harness.core.model" in CORE_MODULES and "harness.core.bisection" in CORE_MODULES
