"""BuildKit's rawjson progress read as its plain progress is: the same Vertex values.

The logs under tests/buildlogs were captured on Engine 20.10.24 from the multistage fixture
with CLI 28.5.2 + buildx 0.29.1, three builds per form with the build cache emptied before
each form's first (``docker builder prune -af``): cold, again unchanged (warm), then with
blah.txt changed; and compose 2.40.3's ``--progress json`` (its embedded builder, then the
``docker buildx bake`` path) after those builds.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.core.buildlog import builder_seen, parse_vertices
from harness.core.dockerfile import parse_dockerfile
from harness.core.model import Verdict
from harness.core.rawprogress import is_rawjson, parse_rawjson
from harness.core.reported import judge_reported, vertex_events
from harness.core.vertex import Vertex

ROOT = Path(__file__).resolve().parent.parent
LOGS = Path(__file__).resolve().parent / "buildlogs"
MULTISTAGE = parse_dockerfile((ROOT / "fixtures/multistage/Dockerfile").read_text())
STAGES = {0: "builder", 1: "test", 2: "2"}


def _log(name: str) -> str:
    return (LOGS / f"multistage-{name}.log").read_text()


def _comparable(vertices: list[Vertex]) -> list[Vertex]:
    """Sorted, the FROM vertex's prefix aside: BuildKit runs one vertex for the two stages
    FROM one image and names it after either stage, from build to build."""
    return sorted(
        (replace(v, prefix="") if v.instruction.startswith("FROM") else v for v in vertices),
        key=lambda v: (v.prefix, v.index),
    )


def _cached(vertices: list[Vertex]) -> dict[str, bool]:
    return {v.instruction.split()[0] + v.instruction.split()[-1]: v.cached for v in vertices}


@pytest.mark.parametrize("build", ["cold", "warm", "changed"])
def test_a_real_rawjson_log_gives_the_plain_log_s_vertices(build: str) -> None:
    raw, plain = _log(f"rawjson-{build}"), _log(f"plain-{build}")
    assert is_rawjson(raw) and not is_rawjson(plain)
    assert builder_seen(raw) == "buildkit"
    assert parse_vertices(raw) == parse_rawjson(raw)
    assert len(parse_rawjson(raw)) == 7  # stage test is not built by BuildKit
    assert _comparable(parse_rawjson(raw)) == _comparable(parse_vertices(plain))


def test_what_each_real_build_did_is_read_from_its_rawjson() -> None:
    cold, warm, changed = (parse_rawjson(_log(f"rawjson-{b}")) for b in ("cold", "warm", "changed"))
    assert not any(v.cached for v in cold)
    assert all(v.cached for v in warm if not v.instruction.startswith("FROM"))
    steps = {k: v for k, v in _cached(changed).items() if not k.startswith("FROM")}
    assert steps == {
        "WORKDIR/src": True,  # before the changed file: still cached
        "ADD/src/blah.txt": False,
        "RUN/src/app": False,
        "COPY/usr/local/bin/app": False,
        "COPY/usr/src/blah.txt": False,
        "RUN/etc/done": False,
    }


def test_a_rawjson_second_build_is_judged_like_a_plain_one() -> None:
    first = vertex_events(parse_rawjson(_log("rawjson-cold")), MULTISTAGE)
    for form in ("rawjson", "plain"):
        warm = vertex_events(parse_vertices(_log(f"{form}-warm")), MULTISTAGE)
        shared = judge_reported(MULTISTAGE, None, first, warm, STAGES)
        assert shared.verdict is Verdict.SHARED and shared.final_image_reused is True
        changed = vertex_events(parse_vertices(_log(f"{form}-changed")), MULTISTAGE)
        missed = judge_reported(MULTISTAGE, None, first, changed, STAGES)
        assert missed.verdict is Verdict.DIVERGED and missed.diverged_at is not None
        assert (missed.diverged_at.step, missed.diverged_at.stage) == (4, "builder")
        assert missed.final_image_reused is False


@pytest.mark.parametrize("path", ["compose-2.40.3-json", "compose-2.40.3-bake-json"])
def test_compose_2_s_json_progress_is_rawjson_with_lines_of_its_own(path: str) -> None:
    log = _log(path)
    assert any('"status":"Built"' in line for line in log.splitlines())  # compose's own line
    vertices = parse_vertices(log)
    assert builder_seen(log) == "buildkit"
    assert len(vertices) == 7
    assert all(v.cached for v in vertices if not v.instruction.startswith("FROM"))
    events = vertex_events(vertices, MULTISTAGE)  # compose's service name before the stage
    steps = [e.step for e in events if not e.instruction.startswith("FROM")]
    assert steps == [3, 4, 5, 9, 10, 11]
    assert [e.step for e in events if e.instruction.startswith("FROM")] in ([2], [8])


_PREFIX = st.from_regex(r"([a-z][a-z0-9-]{0,6}( [a-z][a-z0-9-]{0,6})?)?", fullmatch=True)
_TEXT = st.from_regex(r"(RUN|COPY|ADD|WORKDIR) [!-~]([ -~]{0,20}[!-~])?", fullmatch=True)


@st.composite
def vertex_lists(draw: st.DrawFn) -> list[Vertex]:
    count = draw(st.integers(0, 8))
    return [
        Vertex(draw(_PREFIX), draw(st.integers(1, 9)), draw(st.integers(1, 9)), draw(_TEXT),
               draw(st.booleans()))
        for _ in range(count)
    ]  # fmt: skip


def _name(vertex: Vertex) -> str:
    where = f"{vertex.prefix} " if vertex.prefix else ""
    return f"[{where}{vertex.index}/{vertex.total}] {vertex.instruction}"


def _plain(vertices: list[Vertex]) -> str:
    lines = ["#1 [internal] load build context", "#1 DONE 0.0s", ""]
    for number, vertex in enumerate(vertices, start=2):
        lines += [f"#{number} {_name(vertex)}", f"#{number} CACHED" if vertex.cached else
                  f"#{number} DONE 0.1s", ""]  # fmt: skip
    return "\n".join(lines)


def _rawjson(vertices: list[Vertex], order: list[int]) -> str:
    """Each vertex sent as BuildKit sends it: named, then started, then (in ``order``)
    completed with its cache bit; with an internal vertex, statuses and a foreign line."""
    lines = ['{"level":"warning","msg":"a line of compose\'s own"}']
    internal = {"digest": "sha256:internal", "name": "[internal] load build context"}
    lines.append(json.dumps({"vertexes": [internal], "statuses": [{"id": "transferring"}]}))
    names = [{"digest": f"sha256:{i:064x}", "name": _name(v)} for i, v in enumerate(vertices)]
    lines += [json.dumps({"vertexes": [named]}) for named in names]
    lines += [json.dumps({"vertexes": [{**n, "started": "2026-12-03T16:00:00Z"}]}) for n in names]
    for i in order:
        done = {**names[i], "completed": "2026-12-03T16:00:01Z"}
        lines.append(json.dumps({"vertexes": [{**done, "cached": True} if vertices[i].cached
                                              else done]}))  # fmt: skip
    return "\n".join(lines)


@given(vertex_lists(), st.data())
def test_rawjson_and_plain_forms_of_one_progress_give_the_same_vertices(
    vertices: list[Vertex], data: st.DataObject
) -> None:
    order = data.draw(st.permutations(range(len(vertices))))
    raw = _rawjson(vertices, list(order))
    assert parse_rawjson(raw) == vertices
    assert parse_vertices(_plain(vertices)) == vertices
    assert parse_vertices(raw) == vertices


@given(st.text(max_size=200))
def test_any_text_reads_without_error(text: str) -> None:
    parse_rawjson(text)
    is_rawjson(text)
