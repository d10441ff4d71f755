from __future__ import annotations

import pytest

from harness.core.buildlog import builder_seen, parse_build_log
from harness.core.dockerfile import DockerfileError, from_image, parse_instructions, replace_from

SEED = """# comment
FROM alpine:3.7

RUN apk add --no-cache \\
    openssh-keygen
ADD blah.txt /usr/src/blah.txt
run apk add --no-cache openssh-client
"""

LOG = """Building test
Step 1/4 : FROM alpine:3.7
 ---> 3fd9065eaf02
Step 2/4 : RUN apk add --no-cache openssh-keygen
 ---> Using cache
 ---> 72cd43e2d752
Step 3/4 : ADD blah.txt /usr/src/blah.txt
 ---> 04a8a8205b0e
Step 4/4 : RUN apk add --no-cache openssh-client
 ---> Running in 224ff1f5311f
Removing intermediate container 224ff1f5311f
 ---> dd47cecace0d
Successfully built dd47cecace0d
"""


def test_instructions_are_numbered_like_legacy_steps() -> None:
    steps = parse_instructions(SEED)
    assert [(s.step, s.keyword) for s in steps] == [(1, "FROM"), (2, "RUN"), (3, "ADD"), (4, "RUN")]
    # joined as the engine joins continuations (no space added; see test_dockerfile_engine)
    assert steps[1].text == "RUN apk add --no-cache     openssh-keygen"
    assert steps[2].text == "ADD blah.txt /usr/src/blah.txt"


def test_from_image_and_replace_from_keep_the_rest() -> None:
    assert from_image(SEED) == "alpine:3.7"
    replaced = replace_from(SEED, "cache-bisect/base:abc")
    assert "FROM cache-bisect/base:abc\n" in replaced
    assert replaced.replace("FROM cache-bisect/base:abc", "FROM alpine:3.7") == SEED


def test_replace_from_needs_a_from_line() -> None:
    with pytest.raises(DockerfileError, match="before the first FROM"):
        replace_from("RUN true\n", "x")
    with pytest.raises(DockerfileError, match="no FROM"):
        replace_from("ARG A=1\n", "x")


def test_build_log_events() -> None:
    events = parse_build_log(LOG)
    assert [(e.step, e.cached, e.image) for e in events] == [
        (1, False, "3fd9065eaf02"),
        (2, True, "72cd43e2d752"),
        (3, False, "04a8a8205b0e"),
        (4, False, "dd47cecace0d"),
    ]
    assert events[2].instruction == "ADD blah.txt /usr/src/blah.txt"
    assert {e.total for e in events} == {4}


def test_build_log_without_steps_is_empty() -> None:
    assert parse_build_log("error: something broke\n") == []


def test_build_log_with_the_parsers_coloured_warning() -> None:
    log = (
        "Sending build context to Docker daemon  2.607kB\r\r\n"
        "\x1b[91m[WARNING]: Empty continuation line found in:\n    RUN a\n"
        "\x1b[0mStep 1/2 : FROM base\n ---> 0123456789ab\nStep 2/2 : RUN a\n ---> Using cache\n"
        " ---> 123456789abc\n"
    )
    assert [(e.step, e.cached, e.image) for e in parse_build_log(log)] == [
        (1, False, "0123456789ab"),
        (2, True, "123456789abc"),
    ]


def test_the_builder_a_log_shows_it_used() -> None:
    legacy = "Building test\nStep 1/4 : FROM cache-bisect/base:x\n ---> b255548dc8da\n"
    buildkit = '#0 building with "default" instance using docker driver\n#1 [internal] load\n'
    assert builder_seen(legacy) == "legacy"
    assert builder_seen("\x1b[33mwarning\x1b[0m\n" + buildkit) == "buildkit"
    assert builder_seen("ERROR: failed to connect\n") is None
