"""Which outcomes the store keeps: answers, and the outcomes that repeat (so a fully stored
rerun starts no engine); an error that may pass on a retry and a timeout are built again."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.app.store import ResultStore, storable
from tests.factories import cell_result

FAILS = "cli: ERROR: BuildKit is enabled but the buildx component is missing or broken."


@pytest.mark.parametrize(
    ("verdict", "extra", "kept"),
    [
        ("shared", {}, True),
        ("diverged", {}, True),
        ("uninstallable", {"reason": "no wheel"}, True),
        ("error", {"reason": "cli build failed", "failure": FAILS}, True),
        ("error", {"reason": "the engine went away"}, False),
        ("timeout", {"reason": "took longer than 600 s"}, False),
    ],
)
def test_answers_and_repeatable_outcomes_are_stored_the_rest_built_again(
    tmp_path: Path, verdict: str, extra: dict[str, str], kept: bool
) -> None:
    cell = cell_result("1.27.4", verdict, **extra)
    assert storable(cell) is kept
    store = ResultStore(tmp_path)
    store.put("b" * 24, cell)  # written either way: get decides what is trusted
    found = store.get("b" * 24)
    assert (found is not None) is kept
    if found is not None:
        assert found.verdict.value == verdict and found.failure == extra.get("failure")
