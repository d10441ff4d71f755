"""From differences to changes and labels, and how a proven cause is said (pure)."""

from __future__ import annotations

from dataclasses import replace

from harness.core.cause import INFORMATIONAL, NOT_A_CAUSE, PROVEN, UNTESTED, labels, plan
from harness.core.hybrid import RequestDifference
from harness.core.minimise import minimise
from harness.core.model import CauseStatus, CellResult, ExplainCause, ExplainedDifference
from harness.core.tardiff import Difference
from harness.present.summary import cell_summary
from harness.present.tables import explained, markdown_report
from harness.present.words import cause_key, cause_line
from tests.factories import cell_result


def cell(
    compose: str, cli_build: str, verdict: str, step: int | None = None, **extra: object
) -> CellResult:
    return cell_result(compose, verdict, step, cli_build=cli_build, **extra)


SEED = [
    Difference("blah.txt", "uid", 1000, 0),
    Difference("blah.txt", "gid", 1000, 0),
    Difference("blah.txt", "uname", "dev", ""),
    Difference("blah.txt", "gname", "dev", ""),
]


def test_size_rides_on_content_and_a_whole_member_carries_its_fields() -> None:
    differences = [
        Difference("a", "size", 4, 5),
        Difference("a", "digest", "x", "y"),
        Difference("b", "type", "file", "symlink"),
        Difference("b", "linkname", "", "a"),
        Difference("Dockerfile", "uid", 1000, 0),
    ]
    found = plan(differences, stripped={"Dockerfile"})
    assert found.changes == (("a", "digest"), ("b", "type"))
    assert found.rides_on == {("a", "size"): ("a", "digest"), ("b", "linkname"): ("b", "type")}
    assert found.informational == {("Dockerfile", "uid")}
    result = minimise(found.changes, lambda changes: ("b", "type") in changes)
    assert labels(found, result) == {
        ("a", "digest"): NOT_A_CAUSE,
        ("a", "size"): NOT_A_CAUSE,
        ("b", "type"): PROVEN,
        ("b", "linkname"): PROVEN,
        ("Dockerfile", "uid"): INFORMATIONAL,
    }
    assert set(labels(found, None).values()) == {UNTESTED, INFORMATIONAL}


def _entries(causes: list[str]) -> tuple[ExplainedDifference, ...]:
    return tuple(ExplainedDifference(d, c) for d, c in zip(SEED, causes, strict=True))


PROVEN_SEED = ExplainCause(
    status=CauseStatus.PROVEN,
    builds=5,
    budget=16,
    seconds=2.9,
    minimal=tuple(SEED[:2]),
)


def _seed_cell(cause: ExplainCause, causes: list[str], compose: str = "1.27.4") -> CellResult:
    return replace(
        cell(compose, "default", "diverged", 3),
        explain=_entries(causes),
        explain_summary=("blah.txt: uid 1000 vs 0, gid 1000 vs 0, uname 'dev' vs '', ...",),
        explain_cause=cause,
    )


def test_a_proven_cause_is_one_line() -> None:
    seeded = _seed_cell(PROVEN_SEED, [PROVEN, PROVEN, NOT_A_CAUSE, NOT_A_CAUSE])
    assert cause_line(seeded) == (
        "cause (proven by 5 builds): blah.txt uid 1000→0, gid 1000→0 — uname/gname differ "
        "but do not matter"
    )
    assert cause_key(seeded) == (
        "proven cause: blah.txt uid 1000→0, gid 1000→0 — uname/gname differ but do not matter"
    )
    lines = cell_summary(seeded)
    assert [line for line in lines if line.startswith(("why", "differs"))] == [
        f"why: {cause_line(seeded)}"
    ]


def test_an_extra_file_and_stripped_files() -> None:
    extra = Difference("trailing.txt", "present", True, False)
    entries = (
        ExplainedDifference(extra, PROVEN),
        ExplainedDifference(Difference("a", "uname", "root", ""), NOT_A_CAUSE),
        ExplainedDifference(Difference("b", "uname", "root", ""), NOT_A_CAUSE),
        ExplainedDifference(Difference("Dockerfile", "uid", 1, 0), INFORMATIONAL),
    )
    cause = replace(PROVEN_SEED, builds=4, minimal=(extra,))
    result = replace(
        cell("1.19.0", "0", "diverged", 3),
        explain=entries,
        explain_cause=cause,
    )
    assert cause_line(result) == (
        "cause (proven by 4 builds): trailing.txt sent only by docker-compose — uname (2 paths) "
        "differ but do not matter · stripped by the engine, not a cause: Dockerfile"
    )


def test_not_provable_names_what_else_differed_in_the_requests() -> None:
    cause = ExplainCause(
        status=CauseStatus.NOT_PROVABLE,
        builds=2,
        budget=16,
        seconds=1.0,
        request_differences=(
            RequestDifference("query", "buildargs", '{"A": "1"}', None),
            RequestDifference("header", "user-agent", "docker-py", "Docker"),
        ),
    )
    result = _seed_cell(cause, [UNTESTED] * 4)
    replayed = Difference("", "query:buildargs", '{"A": "1"}', None)
    result = replace(
        result, explain=(*(result.explain or ()), ExplainedDifference(replayed, UNTESTED))
    )
    line = cause_line(result)
    assert line is not None
    assert line.startswith("cause not in what the clients sent (2 builds): with every difference")
    assert line.endswith("also differ in header user-agent 'docker-py' vs 'Docker'")
    assert any(text.startswith("differs: blah.txt") for text in cell_summary(result))


def test_a_request_cause_is_named_as_the_build_request_s_and_innocent_parameters_counted() -> None:
    cachefrom = Difference("", "query:cachefrom", None, '["gone"]')
    cause = replace(PROVEN_SEED, minimal=(cachefrom,))
    innocent = [
        ExplainedDifference(Difference("", f"query:{name}", "0", None), NOT_A_CAUSE)
        for name in ("shmsize", "memory")
    ]
    result = replace(
        cell("1.27.4", "default", "diverged", 2),
        explain=(ExplainedDifference(cachefrom, PROVEN), *innocent),
        explain_cause=cause,
    )
    assert cause_line(result) == (
        "cause (proven by 5 builds): the build request's query:cachefrom none→'[\"gone\"]' "
        "— 2 build request parameters differ but do not matter"
    )


def test_the_matrix_groups_cells_by_proven_cause_not_by_raw_diff() -> None:
    cells = [
        _seed_cell(replace(PROVEN_SEED, builds=n), [PROVEN, PROVEN, NOT_A_CAUSE, NOT_A_CAUSE], v)
        for n, v in ((5, "1.20.1"), (6, "1.21.2"))
    ]
    cells.append(cell("1.22.0", "default", "diverged", 3, explain_summary=("raw: x",)))
    groups = [why for why, _ in explained(cells)]
    assert groups == [
        "proven cause: blah.txt uid 1000→0, gid 1000→0 — uname/gname differ but do not matter",
        "raw: x",
    ]
    assert "1.20.1" in explained(cells)[0][1] and "1.21.2" in explained(cells)[0][1]
    report = markdown_report(cells)
    assert "proven by rebuilding hybrid contexts" in report
    assert "took 11 extra builds (5–6 per cell, control build included) and 5.8 s over 2" in report


def test_the_cause_survives_json() -> None:
    result = _seed_cell(PROVEN_SEED, [PROVEN, PROVEN, NOT_A_CAUSE, NOT_A_CAUSE])
    again = CellResult.from_json(result.to_json())
    assert again == result
    assert again.explain_builds == 5
    assert "explain_cause" not in cell("1.20.1", "default", "shared").to_json()


def test_over_budget_with_a_proven_field_phase_says_so() -> None:
    minimal = tuple(
        Difference(path, field, 1000, 0)
        for path in ("Dockerfile", "blah.txt")
        for field in ("uid", "gid")
    )
    cause = ExplainCause(
        status=CauseStatus.OVER_BUDGET,
        builds=16,
        budget=16,
        seconds=9.0,
        minimal=minimal,
        proven_fields=("uid", "gid"),
    )
    result = replace(
        cell("1.27.4", "default", "diverged", 3),
        explain=tuple(ExplainedDifference(d, UNTESTED) for d in minimal),
        explain_cause=cause,
    )
    assert cause_line(result) == (
        "cause (proven per field by 16 builds; which paths matter was not narrowed within the "
        "budget): uid 1000→0, gid 1000→0 of Dockerfile, blah.txt"
    )
    assert (
        cause_key(result)
        == "proven cause (per field): uid 1000→0, gid 1000→0 of Dockerfile, blah.txt"
    )
    assert CellResult.from_json(result.to_json()) == result
