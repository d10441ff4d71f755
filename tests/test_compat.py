from __future__ import annotations

from datetime import UTC, datetime

import pytest

from harness.core.compat import (
    Compat,
    CompatError,
    builtin_compat,
    parse_compat,
    plan_install,
    sdk_in_range,
)

RULES = {
    "unpinned": ["setuptools"],
    "override": [
        {
            "package": "PyYAML",
            "requirement": "PyYAML==6.0.1",
            "compose": "<1.26",
            "reason": "old PyYAML cannot build",
        },
        {
            "package": "docker",
            "requirement": "docker<7",
            "compose": ">=1.29",
            "sdk": "auto",
            "reason": "SDK 7 breaks compose 1.29",
        },
        {
            "package": "urllib3",
            "requirement": "urllib3==1.24.3",
            "python": ">=3.10",
            "compose": "<1.22",
            "reason": "collections.Mapping",
        },
    ],
}


def test_rules_apply_by_compose_python_and_sdk() -> None:
    compat = parse_compat(RULES)
    cutoff = datetime(2018, 3, 21, tzinfo=UTC)
    old = plan_install(compat, "1.20.0", "auto", "3.11.7", cutoff)
    assert [r.package for r in old.overrides] == ["PyYAML", "urllib3"]
    assert old.override_lines() == ["PyYAML==6.0.1", "urllib3==1.24.3"]
    assert old.newer_allowed() == ["pyyaml", "setuptools", "urllib3"]
    on_old_python = plan_install(compat, "1.20.0", "auto", "3.9.1", cutoff)
    assert [r.package for r in on_old_python.overrides] == ["PyYAML"]
    new = plan_install(compat, "1.29.2", "auto", "3.11.7", cutoff)
    assert [r.package for r in new.overrides] == ["docker"]
    explicit = plan_install(compat, "1.29.2", "4.4.4", "3.11.7", cutoff)
    assert explicit.overrides == ()
    assert explicit.override_lines() == ["docker[ssh]==4.4.4"]  # compose asks for docker[ssh]
    assert "docker" in explicit.newer_allowed()
    before_ssh = plan_install(Compat(), "1.23.2", "3.7.3", "3.11.7", cutoff)
    assert before_ssh.override_lines() == ["docker==3.7.3"]


def test_plan_key_changes_with_every_input() -> None:
    compat = parse_compat(RULES)
    cutoff = datetime(2018, 3, 21, tzinfo=UTC)
    base = plan_install(compat, "1.20.0", "auto", "3.11.7", cutoff)
    variants = [
        plan_install(compat, "1.20.1", "auto", "3.11.7", cutoff),
        plan_install(compat, "1.20.0", "3.1.4", "3.11.7", cutoff),
        plan_install(compat, "1.20.0", "auto", "3.11.8", cutoff),
        plan_install(compat, "1.20.0", "auto", "3.11.7", datetime(2018, 3, 22, tzinfo=UTC)),
        plan_install(Compat(), "1.20.0", "auto", "3.11.7", cutoff),
    ]
    assert len({base.key(), *(v.key() for v in variants)}) == 6


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"bogus": 1}, "unknown key 'bogus'"),
        ({"override": [{"package": "x"}]}, "requirement must be a non-empty string"),
        ({"override": [{"package": "a", "requirement": "b==1", "reason": "r"}]}, "is not for 'a'"),
        (
            {
                "override": [
                    {"package": "a", "requirement": "a==1", "reason": "r", "compose": "<<1"}
                ]
            },
            "#1",
        ),
        (
            {"override": [{"package": "a", "requirement": "a==1", "reason": "r", "sdk": "x"}]},
            "sdk must be",
        ),
        ({"unpinned": "setuptools"}, "list of package names"),
    ],
)
def test_bad_rules_are_rejected(table: dict, message: str) -> None:
    with pytest.raises(CompatError, match=message):
        parse_compat(table)


def test_sdk_in_range_reads_the_release_requirements() -> None:
    requires = ["PyYAML<4,>=3.10", "docker<4.0,>=3.1.0", 'enum34<2,>=1.0.4; python_version < "3.4"']
    assert sdk_in_range(requires, "3.1.4", "3.11.7") is True
    assert sdk_in_range(requires, "4.4.4", "3.11.7") is False
    assert sdk_in_range(["docker[ssh]<5,>=3.7.0"], "4.4.4", "3.11.7") is True
    assert sdk_in_range(["requests"], "4.4.4", "3.11.7") is None
    assert sdk_in_range(requires, None, "3.11.7") is None


def test_the_harness_rules_apply_to_a_matrix_file_without_compat() -> None:
    """A user's matrix file with no [compat] still gets the rules old releases need."""
    from harness.core.config import parse_config

    config = parse_config('[matrix]\ncompose = ["1.24.1", "1.25.0"]\ncli_build = ["default"]\n')
    cutoff = datetime(2019, 6, 24, tzinfo=UTC)
    plan = plan_install(config.compat, "1.24.1", "auto", "3.11.7", cutoff)
    assert {rule.requirement for rule in plan.overrides} == {"PyYAML==5.1", "cffi==1.14.1"}
    assert config.compat.unpinned == ("setuptools", "wheel", "cython")


def test_a_matrix_file_adds_and_overrides_rules() -> None:
    table = {
        "unpinned": ["setuptools"],
        "override": [
            {"package": "cffi", "requirement": "cffi==1.15.0", "reason": "mine", "compose": "<2"}
        ],
        "broken": [{"compose": "==1.24.1", "reason": "not on my machine"}],
    }
    compat = parse_compat(table, base=builtin_compat())
    plan = plan_install(compat, "1.24.1", "auto", "3.11.7", None)
    assert sorted(plan.override_lines()) == ["PyYAML==5.1", "cffi==1.15.0"]  # the file's wins
    assert [rule.reason for rule in plan.broken] == ["not on my machine"]
    assert compat.unpinned == ("setuptools",)


def test_sdk_ranges_match_explicit_sdks_and_beat_general_rules() -> None:
    compat = builtin_compat()
    cutoff = datetime(2022, 8, 19, tzinfo=UTC)
    sdk6 = plan_install(compat, "1.21.2", "6.1.3", "3.11.7", cutoff)
    assert sorted(sdk6.override_lines()) == [
        "PyYAML==5.1",
        "docker==6.1.3",
        "requests==2.26.0",
        "urllib3==1.26.12",
    ]
    sdk3 = plan_install(compat, "1.21.2", "3.4.0", "3.11.7", cutoff)
    assert "requests==2.19.0" in sdk3.override_lines()
    auto = plan_install(compat, "1.26.2", "auto", "3.11.7", cutoff)
    assert "PyYAML==5.3.1" not in auto.override_lines()  # a range never matches auto
    late = plan_install(compat, "1.26.2", "4.4.4", "3.11.7", cutoff)
    assert "PyYAML==5.3.1" in late.override_lines()


@pytest.mark.parametrize(
    ("compose", "sdk", "python", "words"),
    [
        ("1.29.2", "7.0.0", "3.11.7", "ssl_version"),
        ("1.19.0", "3.1.4", "3.11.7", "'stream'"),
        ("1.19.0", "2.5.0", "3.11.7", "'extra_hosts'"),
        ("1.22.0", "2.4.2", "3.11.7", "re.error"),
        ("1.15.0", "auto", "3.11.7", "re.error"),
        ("1.22.0", "6.0.1", "3.11.7", "bytes-like"),
        ("1.26.2", "6.1.3", "3.11.7", "bytes-like"),
    ],
)
def test_known_broken_combinations(compose: str, sdk: str, python: str, words: str) -> None:
    plan = plan_install(builtin_compat(), compose, sdk, python, None)
    assert any(words in rule.reason for rule in plan.broken), plan.broken
    assert "broken" in plan.as_json()


@pytest.mark.parametrize(
    ("compose", "sdk", "python"),
    [
        ("1.29.2", "6.1.3", "3.11.7"),
        ("1.19.0", "2.7.0", "3.11.7"),
        ("1.22.0", "2.4.2", "3.10.4"),
        ("1.21.0", "6.1.3", "3.11.7"),
        ("1.27.0", "6.1.3", "3.11.7"),
    ],
)
def test_working_combinations_are_not_broken(compose: str, sdk: str, python: str) -> None:
    assert plan_install(builtin_compat(), compose, sdk, python, None).broken == ()
