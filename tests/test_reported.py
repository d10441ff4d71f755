"""Verdicts from the builders' own step reports (BuildKit's vertices mapped to the legacy
builder's step numbers), for multi-stage builds; the logs are shaped as BuildKit 0.29's plain
progress printed them on Engine 28.5 (the multistage fixture, built twice by hand)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from harness.core.buildlog import parse_build_log, parse_vertices
from harness.core.dockerfile import parse_dockerfile
from harness.core.jsonform import from_json, to_json
from harness.core.model import StepComparison, Verdict
from harness.core.reported import judge_reported, vertex_events

MULTISTAGE = (Path(__file__).resolve().parent.parent / "fixtures/multistage/Dockerfile").read_text()
STAGES = {0: "builder", 1: "test", 2: "2"}


def buildkit_log(cached: dict[str, bool], prefix: str = "") -> str:
    """Plain progress of the multistage fixture: the vertices BuildKit runs (not stage test),
    FROM once for both stages on one base, as BuildKit printed it."""
    vertices = [
        ("builder 1/4", "FROM docker.io/cache-bisect/base:abc"),
        ("builder 2/4", "WORKDIR /src"),
        ("builder 3/4", "ADD blah.txt /src/blah.txt"),
        ("builder 4/4", "RUN cat /src/blah.txt > /src/app"),
        ("stage-2 2/4", "COPY --from=builder /src/app /usr/local/bin/app"),
        ("stage-2 3/4", "COPY --from=0 /src/blah.txt /usr/src/blah.txt"),
        ("stage-2 4/4", "RUN echo done > /etc/done"),
    ]
    lines = ["#1 [internal] load build definition from Dockerfile", "#1 DONE 0.0s", ""]
    for number, (where, text) in enumerate(vertices, start=4):
        lines += [f"#{number} [{prefix}{where}] {text}"]
        lines += [f"#{number} CACHED" if cached.get(text.split()[0] + str(number)) else "#0 DONE"]
    return "\n".join(lines)


def test_a_builder_stage_miss_under_buildkit_is_found_at_the_legacy_step_number() -> None:
    dockerfile = parse_dockerfile(MULTISTAGE)
    first = vertex_events(parse_vertices(buildkit_log({})), dockerfile)
    second_log = buildkit_log({"WORKDIR5": True, "COPY8": True, "COPY9": True}, "app ")
    second = vertex_events(parse_vertices(second_log), dockerfile)
    assert [e.step for e in second] == [2, 3, 4, 5, 9, 10, 11]  # the ARG before FROM counts
    judged = judge_reported(dockerfile, None, first, second, STAGES)
    assert judged.verdict is Verdict.DIVERGED
    assert judged.diverged_at is not None
    assert (judged.diverged_at.step, judged.diverged_at.stage) == (4, "builder")
    assert judged.diverged_at.instruction == "ADD blah.txt /src/blah.txt"
    assert [s.step for s in judged.steps] == [2, 3, 4, 5, 8, 9, 10, 11]  # stage test left out
    assert [s.step for s in judged.steps if s.shared] == [2, 3, 8, 9, 10]
    assert judged.final_image_reused is False
    assert judged.notes == (
        "stage test was not built by the second build (BuildKit builds only the stages the "
        "target needs): not compared",
    )
    stored = to_json(judged.steps[2])
    assert stored["shared"] is False and stored["evidence"] == "log"
    again = from_json(stored, StepComparison)
    assert again == judged.steps[2] and again.shared is False


def test_a_legacy_second_build_is_read_from_its_using_cache_lines() -> None:
    dockerfile = parse_dockerfile(MULTISTAGE)
    legacy = "\n".join(
        f"Step {number}/11 : {line}\n"
        + (" ---> Using cache\n" if number in (3, 7) else "")
        + (f" ---> {number:012x}" if number > 1 else "")
        for number, line in enumerate(
            [x for x in MULTISTAGE.splitlines() if x and not x.startswith("#")], start=1
        )
    )
    first = vertex_events(parse_vertices(buildkit_log({})), dockerfile)
    judged = judge_reported(dockerfile, None, first, parse_build_log(legacy), STAGES)
    assert judged.diverged_at is not None and judged.diverged_at.step == 4
    assert [s.step for s in judged.steps] == list(range(2, 12))  # every stage: legacy builds all
    assert judged.notes == ()


KEYWORDS = st.sampled_from(["RUN true", "ENV A=1", "COPY a /a", "LABEL l=1", "WORKDIR /w"])


@given(st.lists(st.tuples(KEYWORDS, st.booleans()), min_size=1, max_size=8))
def test_the_first_miss_is_the_first_vertex_the_second_build_did_not_take_from_the_cache(
    steps: list[tuple[str, bool]],
) -> None:
    dockerfile = parse_dockerfile("FROM base\n" + "".join(f"{text}\n" for text, _ in steps))
    made = [(text, hit) for text, hit in steps if text.split()[0] in ("RUN", "COPY", "WORKDIR")]
    total = len(made) + 1
    log = f"#1 [1/{total}] FROM docker.io/library/base\n#1 DONE\n" + "".join(
        f"#{n} [{n}/{total}] {text}\n#{n} {'CACHED' if hit else 'DONE 0.1s'}\n"
        for n, (text, hit) in enumerate(made, start=2)
    )
    events = vertex_events(parse_vertices(log), dockerfile)
    judged = judge_reported(dockerfile, None, events, events)
    first_miss = next(
        (n for n, (text, hit) in enumerate(steps, start=2) if (text, hit) in made and not hit),
        None,
    )
    missed_text = None if first_miss is None else steps[first_miss - 2][0]
    if first_miss is None:
        assert judged.verdict is Verdict.SHARED
    else:
        assert judged.diverged_at is not None
        assert judged.diverged_at.instruction == missed_text
        # every step before it was reused, the later ones of the stage follow the miss
        assert all(s.shared for s in judged.steps if s.step < judged.diverged_at.step)
