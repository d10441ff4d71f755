"""The committed results read back into typed values (test_jsonform writes every results file
back as the same text): typed outcomes change nothing in the files' shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.core.bisection import Kind, Status
from harness.core.model import Behaviour, Verdict
from harness.core.report import BisectReport

RESULTS = Path(__file__).resolve().parent.parent / "results"


def test_the_committed_bisect_reads_as_typed_values() -> None:
    report = BisectReport.from_json(json.loads((RESULTS / "bisect.json").read_text()))
    assert report.status is Status.FOUND
    assert report.old_verdict == Behaviour(Verdict.DIVERGED, 3)
    assert report.new_verdict == Behaviour(Verdict.SHARED)
    first = report.probes[0]
    assert first.observation.kind is Kind.VERDICT and first.runs == "1/1"
    assert first.behaviour == Behaviour(Verdict.DIVERGED, 3)
    assert report.culprit is not None
    assert [c.behaviour for c in report.culprit.crosses] == [Behaviour(Verdict.DIVERGED, 3), None]


@pytest.mark.parametrize(
    ("verdict", "runs", "kind"),
    [("flaky (diverged@3 2/3)", "2/3", Kind.FLAKY), ("flaky (None 2/3)", "2/3", Kind.FLAKY),
     ("skip", "2/2", Kind.SKIP), ("fails: compose: boom", "1/1", Kind.VERDICT)],
)  # fmt: skip
def test_every_stored_probe_form_round_trips(verdict: str, runs: str, kind: Kind) -> None:
    stored = {
        **dict.fromkeys(("sdk", "diverged_at", "cell")),
        "version": "1.0.0",
        "compose": "1.0.0",
        "verdict": verdict,
        "runs": runs,
        "stored": True,
        "detail": "",
    }
    data = {**json.loads((RESULTS / "bisect.json").read_text()), "probes": [stored]}
    report = BisectReport.from_json(data)
    assert report.probes[0].observation.kind is kind
    assert report.to_json() == data
