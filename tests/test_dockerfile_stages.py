"""The Dockerfile parser: stages, build args before FROM, targets and FROM rewriting; the step
numbers themselves are checked against the engine in test_dockerfile_engine."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.core.dockerfile import (
    DockerfileError,
    check_bases,
    copied_images,
    expand,
    external_stages,
    parse_dockerfile,
    rewrite_bases,
    rewrite_copy_from,
    scratch_stages,
)

MULTI = """ARG BASE=org/base:1
ARG TAG
FROM ${BASE} AS Build
COPY . /src
RUN make

FROM build AS test
RUN make test

FROM scratch
COPY --from=build /src/app /app
COPY --from=0 /src/lib /lib
"""


def test_stages_names_and_steps() -> None:
    parsed = parse_dockerfile(MULTI)
    assert [s.label for s in parsed.stages] == ["build", "test", "2"]
    assert [(i.step, i.keyword, i.stage) for i in parsed.steps()] == [
        (1, "ARG", None), (2, "ARG", None), (3, "FROM", 0), (4, "COPY", 0), (5, "RUN", 0),
        (6, "FROM", 1), (7, "RUN", 1), (8, "FROM", 2), (9, "COPY", 2), (10, "COPY", 2),
    ]  # fmt: skip
    assert [i.step for i in parsed.steps("build")] == [1, 2, 3, 4, 5]
    assert [i.step for i in parsed.steps("TEST")] == [1, 2, 3, 4, 5, 6, 7]
    with pytest.raises(DockerfileError, match="target stage nope could not be found"):
        parsed.steps("nope")
    assert parsed.steps()[8].flags == ("--from=build",)
    assert parsed.stage_named("0") is parsed.stages[0]
    assert parsed.stage_named("Build") is parsed.stages[0]


def test_build_args_before_from() -> None:
    parsed = parse_dockerfile(MULTI)
    assert parsed.base_of(parsed.stages[0], {}) == "org/base:1"
    assert parsed.base_of(parsed.stages[0], {"BASE": "other:2"}) == "other:2"
    assert [s.index for s in external_stages(parsed, {})] == [0]
    blank = parse_dockerfile("ARG BASE\nFROM ${BASE}\n")
    with pytest.raises(DockerfileError, match="should not be blank"):
        blank.base_of(blank.stages[0], {})
    # a build arg may name an earlier stage: then that FROM is not an external image
    chained = parse_dockerfile("ARG FROM_STAGE=one\nFROM a AS one\nFROM ${FROM_STAGE}\n")
    assert [s.index for s in external_stages(chained, {})] == [0]
    assert [s.index for s in external_stages(chained, {"FROM_STAGE": "b"})] == [0, 1]


def test_expand_like_the_builders_shell_lexer() -> None:
    values = {"A": "x", "E": ""}
    assert expand("$A/${A}:${B:-def}${A:+alt}${E:-e}${E-f}${B+g}", values) == "x/x:defalte"
    assert expand(r"\$A", values) == "$A"
    assert expand("`$A", values, "`") == "$A"


def test_rewrite_bases_keeps_every_other_byte() -> None:
    source = "# escape=`\nARG B=x\nFROM ${B} as build\nRUN a `\n  b\nFROM build\nFROM y\n"
    rewritten = rewrite_bases(source, {0: "cell:1", 2: "cell:2"})
    assert rewritten == (
        "# escape=`\nARG B=x\nFROM cell:1 as build\nRUN a `\n  b\nFROM build\nFROM cell:2\n"
    )


def test_refused_as_the_builder_refuses() -> None:
    for source, words in [
        ("RUN a\n", "before the first FROM"),
        ("# hello\n\n", "no instructions"),
        ("FROM a AS x\nFROM b AS X\n", "duplicate name x"),
        ("FROM a b\n", "one or three arguments"),
        ("# escape=x\nFROM a\n", "invalid escape token"),
        ("# escape=`\n# escape=`\nFROM a\n", "only one escape"),
    ]:
        with pytest.raises(DockerfileError, match=words):
            parse_dockerfile(source)


_WORDS = st.text(alphabet="abcxyz019/._-=", min_size=1, max_size=8).filter(
    lambda word: not word.startswith("-")
)
_KEYWORDS = st.sampled_from(["RUN", "COPY", "ENV", "LABEL", "WORKDIR", "ONBUILD RUN", "USER"])


@st.composite
def _dockerfiles(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A Dockerfile with comments, blank lines and continuations, and the instruction texts
    (keyword + arguments, whitespace collapsed) it must yield, in order."""
    lines, expected = [], []
    stages = draw(st.integers(1, 3))
    for _ in range(stages):
        body = [("FROM", [draw(_WORDS)])] + [
            (draw(_KEYWORDS), draw(st.lists(_WORDS, min_size=1, max_size=4)))
            for _ in range(draw(st.integers(0, 4)))
        ]
        for keyword, words in body:
            if draw(st.booleans()):
                lines.append("# " + draw(_WORDS))
            if draw(st.booleans()):
                lines.append("")
            if len(words) > 1 and draw(st.booleans()):  # continued over several lines
                parts = [f"{keyword} {words[0]} \\"]
                for word in words[1:-1]:
                    parts.append(f"  {word} \\")
                    if draw(st.booleans()):
                        parts.append("  # inside")
                parts.append(f"  {words[-1]}")
                lines += parts
            else:
                lines.append(f"{keyword} {' '.join(words)}")
            expected.append(" ".join([keyword, *words]))
    return "\n".join(lines) + "\n", expected


@given(_dockerfiles())
def test_every_instruction_is_one_step_in_order(case: tuple[str, list[str]]) -> None:
    source, expected = case
    steps = parse_dockerfile(source).steps()
    assert [step.step for step in steps] == list(range(1, len(expected) + 1))
    assert [" ".join(step.text.split()) for step in steps] == expected


@given(_dockerfiles(), st.text(alphabet="abc:/0123456789", min_size=1, max_size=10))
def test_rewriting_from_changes_only_the_from_lines(
    case: tuple[str, list[str]], image: str
) -> None:
    source, _ = case
    parsed = parse_dockerfile(source)
    rewritten = rewrite_bases(source, {stage.index: image for stage in parsed.stages})
    after = parse_dockerfile(rewritten)
    assert [s.base for s in after.stages] == [image] * len(parsed.stages)
    assert [i.text for i in after.steps() if i.keyword != "FROM"] == [
        i.text for i in parsed.steps() if i.keyword != "FROM"
    ]


def test_scratch_stages_are_those_from_scratch_itself() -> None:
    parsed = parse_dockerfile("ARG B=scratch\nFROM ${B} AS s\nFROM s\nFROM scratch\nFROM o/x\n")
    assert [stage.index for stage in scratch_stages(parsed, {})] == [0, 2]
    assert [stage.index for stage in scratch_stages(parsed, {"B": "o/y"})] == [2]
    assert [stage.index for stage in external_stages(parsed, {"B": "o/y"})] == [0, 3]


BASES = st.sampled_from(["scratch", "org/img:1", "s0", "s1", "s2"])


@given(st.lists(BASES, min_size=1, max_size=5))
def test_each_stage_starts_from_scratch_an_image_or_an_earlier_stage(bases: list[str]) -> None:
    parsed = parse_dockerfile("".join(f"FROM {base} AS s{i}\n" for i, base in enumerate(bases)))
    scratch = {stage.index for stage in scratch_stages(parsed, {})}
    images = {stage.index for stage in external_stages(parsed, {})}
    for index, base in enumerate(bases):
        earlier_stage = base in {f"s{i}" for i in range(index)}
        assert (index in scratch) is (base == "scratch")
        assert (index in images) is (base != "scratch" and not earlier_stage)


def test_the_bases_are_checked_as_the_builder_checks_them() -> None:
    check_bases(MULTI, "test")
    check_bases("FROM scratch AS s\nFROM s\n", None)  # judged now: no longer refused
    with pytest.raises(DockerfileError, match="should not be blank"):
        check_bases(MULTI, None, {"BASE": ""})
    with pytest.raises(DockerfileError, match="target stage nope could not be found"):
        check_bases(MULTI, "nope")


COPIES = """FROM org/base:1 AS build
COPY --from=org/tools:2 /bin/tool /bin/tool
FROM build
COPY --from=build /a /a
COPY --from=0 /b /b
COPY --chown=1:1 --from=later /c /c
COPY --from=org/tools:2 /d /d
FROM org/base:1 AS later
"""


def test_copy_from_an_image_is_told_from_copy_from_a_stage() -> None:
    parsed = parse_dockerfile(COPIES)
    # "later" is defined after the COPY that names it: the builder takes it for an image
    assert copied_images(parsed) == ("org/tools:2", "later")
    assert copied_images(parsed, "build") == ("org/tools:2",)
    rewritten = rewrite_copy_from(COPIES, {"org/tools:2": "cell:1", "later": "cell:2"})
    expected = COPIES.replace("--from=org/tools:2", "--from=cell:1")
    assert rewritten == expected.replace("--from=later", "--from=cell:2")
    assert copied_images(parse_dockerfile(rewritten)) == ("cell:1", "cell:2")


@given(st.from_regex(r"[a-z][a-z0-9]{0,8}(/[a-z0-9]{1,8})?:[0-9]{1,3}", fullmatch=True))
def test_rewriting_copy_from_changes_that_reference_alone(image: str) -> None:
    source = f"FROM {image} AS one\nCOPY --from={image} /x /x\nFROM one\nCOPY --from=one /y /y\n"
    rewritten = rewrite_copy_from(source, {image: "cell:9"})
    assert rewritten.splitlines()[0] == f"FROM {image} AS one"  # a FROM is rewrite_bases' job
    assert copied_images(parse_dockerfile(rewritten)) == ("cell:9",)
    assert rewrite_copy_from(source, {}) == source
