"""Remedies for a request-level cause and other docker CLIs: which trials a proven cause gives
(the docker build flag that sends what compose sent, the compose key to remove), the flags a
captured value becomes, the compose file without a key, and which other CLIs a cell tries.
The verdicts come from engine tests (tests/test_remedies_engine.py)."""

from __future__ import annotations

import json
import shlex
from dataclasses import replace

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from harness.app.remedies import other_clis
from harness.core.composefile import ComposeFileError, without_build_keys
from harness.core.mirror import MIRRORS, MirrorError, cli_flags, request_causes
from harness.core.model import CauseStatus, CellSpec, CliInfo, ExplainCause
from harness.core.remedies import cli_candidates, trials
from harness.core.remedy import NOT_TRIED
from harness.core.tardiff import Difference
from harness.edges.provision import ProvisionError
from tests.factories import cell_result

NAMES = st.text(st.characters(codec="ascii", categories=("L", "N", "P")), min_size=1, max_size=12)


def _proven(*entries: Difference, status: CauseStatus = CauseStatus.PROVEN) -> ExplainCause:
    return ExplainCause(status=status, builds=3, budget=16, seconds=1.0, minimal=entries)


CACHE_FROM = Difference("", "query:cachefrom", '["cache-bisect/never-built:missing"]', None)


def test_a_proven_cachefrom_gives_the_mirrored_flag_and_the_key_to_remove() -> None:
    spec = CellSpec("1.29.2", scenario="cache-from", order="cli-first")
    cell = replace(cell_result("1.29.2", "diverged"), explain_cause=_proven(CACHE_FROM))
    found = {t.kind: t for t in trials(spec, cell)}
    flag, key = found["cli-flag"], found["compose-key"]
    assert flag.spec == replace(
        spec, cli_flags=("--cache-from", "cache-bisect/never-built:missing")
    )
    assert flag.remedy == (
        "run docker build with --cache-from cache-bisect/never-built:missing "
        "(docker-compose's build.cache_from)"
    )
    assert key.spec == replace(spec, drop_keys=("cache_from",))
    assert key.remedy == "remove build.cache_from from the compose service"
    assert list(found).index("cli-flag") < list(found).index("compose-key")


def test_no_request_trial_without_a_proven_request_cause() -> None:
    spec = CellSpec("1.29.2")
    plain = cell_result("1.29.2", "diverged")
    assert not {"cli-flag", "compose-key"} & {t.kind for t in trials(spec, plain)}
    over = replace(plain, explain_cause=_proven(CACHE_FROM, status=CauseStatus.OVER_BUDGET))
    assert not {"cli-flag", "compose-key"} & {t.kind for t in trials(spec, over)}
    context = Difference("blah.txt", "uid", 1000, 0)
    in_context = replace(plain, explain_cause=_proven(context))
    assert not {"cli-flag", "compose-key"} & {t.kind for t in trials(spec, in_context)}


def test_what_cannot_be_mirrored_says_why() -> None:
    spec = CellSpec("1.29.2")
    cases = {
        "api:version": (Difference("", "api:version", "1.41", "1.43"), "no docker"),
        "cli only": (Difference("", "query:cachefrom", None, '["x"]'), "did not"),
        "bad json": (Difference("", "query:labels", "{not json", None), "not JSON"),
    }
    for name, (entry, words) in cases.items():
        cell = replace(cell_result("1.29.2", "diverged"), explain_cause=_proven(entry))
        flag = next(t for t in trials(spec, cell) if t.kind == "cli-flag")
        assert flag.spec is None and words in (flag.reason or ""), name


def test_args_and_target_are_mirrored_but_never_removed() -> None:
    """Removing them would build something else: no remedy."""
    spec = CellSpec("1.29.2", scenario="build-args")
    entry = Difference("", "query:buildargs", '{"A": "1", "B": null}', "{}")
    cell = replace(cell_result("1.29.2", "diverged"), explain_cause=_proven(entry))
    kinds = {t.kind: t for t in trials(spec, cell)}
    assert "compose-key" not in kinds
    assert kinds["cli-flag"].spec == replace(
        spec, cli_flags=("--build-arg", "A=1", "--build-arg", "B")
    )


@given(st.lists(NAMES, min_size=1, max_size=4))
def test_a_list_parameter_is_one_flag_per_item_however_it_was_sent(items: list[str]) -> None:
    as_json = cli_flags("cachefrom", json.dumps(items))
    assert as_json == tuple(word for item in items for word in ("--cache-from", item))
    hosts = [f"{item.replace(',', '')}:10.0.0.1" for item in items]
    assert cli_flags("extrahosts", ",".join(hosts)) == tuple(
        word for host in hosts for word in ("--add-host", host)
    )


@given(st.dictionaries(NAMES, st.one_of(st.none(), NAMES), min_size=1, max_size=4))
def test_a_mapping_parameter_is_one_key_value_flag_per_entry(labels: dict[str, str | None]) -> None:
    flags = cli_flags("labels", json.dumps(labels))
    assert flags[::2] == ("--label",) * len(labels)
    assert flags[1::2] == tuple(k if v is None else f"{k}={v}" for k, v in labels.items())


def test_single_values_and_switches() -> None:
    assert cli_flags("networkmode", "none") == ("--network", "none")
    assert cli_flags("shmsize", "67108864") == ("--shm-size", "67108864")
    assert cli_flags("nocache", "1") == ("--no-cache",)
    with pytest.raises(MirrorError, match="nocache=0 is off"):
        cli_flags("nocache", "0")
    with pytest.raises(MirrorError, match="no docker build flag sends cpusetcpus"):
        cli_flags("cpusetcpus", "0")
    with pytest.raises(MirrorError, match="not a list"):
        cli_flags("cachefrom", '[{"a": 1}]')
    assert all(mirror.flag.startswith("--") for mirror in MIRRORS.values())


def test_request_causes_are_the_request_entries_of_the_minimal_set() -> None:
    context = Difference("blah.txt", "mode", 0o644, 0o100644)
    found = request_causes((context, CACHE_FROM))
    assert [(c.name, c.compose, c.cli) for c in found] == [
        ("cachefrom", '["cache-bisect/never-built:missing"]', None)
    ]


COMPOSE = """\
version: '2.2'
services:
  test:
    build:
      context: .
      cache_from:
        - cache-bisect/never-built:missing
      labels: {a: b}
    image: x
"""


def test_without_build_keys_removes_only_those_keys() -> None:
    document = yaml.safe_load(without_build_keys(COMPOSE, "test", ("cache_from",)))
    assert document["services"]["test"] == {
        "build": {"context": ".", "labels": {"a": "b"}},
        "image": "x",
    }
    assert document["version"] == "2.2"
    with pytest.raises(ComposeFileError, match=r"no build\.network to remove"):
        without_build_keys(COMPOSE, "test", ("network",))


def test_the_flags_read_back_as_typed() -> None:
    spec = CellSpec("1.29.2")
    entry = replace(CACHE_FROM, compose='["my image:1"]')
    cell = replace(cell_result("1.29.2", "diverged"), explain_cause=_proven(entry))
    flag = next(t for t in trials(spec, cell) if t.kind == "cli-flag")
    assert shlex.split(flag.changes["cli_flags"]) == ["--cache-from", "my image:1"]


OLD, NEW, NEWER = (
    CliInfo("docker-20", "20.10.24+dfsg1"),
    CliInfo("docker-28.2", "28.2.2"),
    CliInfo("docker-28.5", "28.5.2"),
)


def test_one_other_cli_per_major_version_fetched_ones_first() -> None:
    assert cli_candidates("20.10.24+dfsg1", ("20.10", "28.5"), (OLD, NEW)) == (["28.5"], [])
    assert cli_candidates("28.5.2", ("20.10", "28.5"), (NEW, OLD)) == (["20.10"], [])
    assert cli_candidates("28.5.2", (), (NEWER, NEW, OLD)) == ([], [OLD])
    assert cli_candidates("26.1.5", ("20.10", "28.5"), (NEW,)) == (["20.10", "28.5"], [])


@given(
    st.text("0123456789.", min_size=1, max_size=8),
    st.lists(st.text("0123456789.", min_size=1, max_size=8), max_size=5),
    st.lists(st.text("0123456789.", min_size=1, max_size=8), max_size=5),
)
def test_cli_candidates_never_repeat_a_major_nor_the_references(
    reference: str, wanted: list[str], on_path: list[str]
) -> None:
    versions, found = cli_candidates(
        reference, wanted, [CliInfo(f"docker-{v}", v) for v in on_path]
    )

    def major(version: str) -> int | None:
        head = version.split(".")[0]
        return int(head) if head.isdigit() else None

    majors = [major(v) for v in versions] + [major(c.version) for c in found]
    assert len(majors) == len(set(majors))
    assert major(reference) not in majors
    assert set(versions) <= set(wanted)


def test_a_cli_that_cannot_be_fetched_gives_way_to_one_on_path_else_is_not_tried() -> None:
    cell = replace(cell_result("1.27.4", "diverged"), cli=OLD)

    def offline(version: str) -> CliInfo:
        raise ProvisionError(f"apt-get and dpkg are needed to fetch Docker {version}")

    assert other_clis(cell, (OLD, NEW), offline) == ([NEW], [])  # PATH's 28.2 stands in
    clis, missing = other_clis(cell, (OLD,), offline)
    assert clis == []
    assert [(r.remedy, r.verdict, r.reason) for r in missing] == [
        (
            "run docker build with docker CLI 28.5",
            NOT_TRIED,
            "apt-get and dpkg are needed to fetch Docker 28.5",
        )
    ]
    clis, missing = other_clis(cell, (OLD,), None)
    assert [r.reason for r in missing] == ["this run fetches no docker CLI by version"]
    assert other_clis(cell, (OLD, NEW), lambda version: NEWER) == ([NEWER], [])
