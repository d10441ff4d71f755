from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.cli.options import split_tool
from harness.core.compat import builtin_compat
from harness.core.config import ConfigError, Exclusion, load_config, parse_config
from harness.core.matrix import cell_id, compose_versions, expand_matrix
from harness.core.releases import Release

ROOT = Path(__file__).resolve().parent.parent


def releases(*texts: str) -> list[Release]:
    return [Release.of(text, datetime(2019, 1, 1, tzinfo=UTC)) for text in texts]


COMPOSE = releases(
    "1.9.0", "1.10.0", "1.10.1", "1.19.0", "1.20.0", "1.20.1", "1.21.0rc1", "1.21.0", "1.29.2"
)
SDK = releases("3.1.4", "4.4.4")


def test_committed_matrix_is_valid() -> None:
    config = load_config(ROOT / "matrix.toml")
    assert config.cli_build == ("default", "1")
    assert config.engine == ("20.10", "28.5") and config.cli == ("20.10", "28.5")
    assert config.run.explain is True
    assert config.latest_patch_only is True
    assert config.compat.overrides, "the compat rules are part of the committed matrix"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[matrix]\ncompose = ["1.20.0"]\nbogus = 1\n',
            "matrix.toml:3: [matrix] bogus: unknown key",
        ),
        ("[matrix]\ncompose = []\n", "matrix.toml:2: [matrix] compose: is empty"),
        ('[matrix]\ncompose = "1.20.0"\n', "matrix.toml:2: [matrix] compose: must be a list"),
        (
            '[matrix]\ncompose = ["1.20.0"]\nsdk = [3]\n',
            'matrix.toml:3: [matrix] sdk: must be a list of strings, e.g. ["auto"]',
        ),
        (
            '[matrix]\ncompose = ["1.20.0"]\nscenario = "seed"\n',
            'scenario: must be a list of strings, e.g. ["seed", "root-owned"]',
        ),
        (
            '[matrix]\ncompose = "1.20.0"\n',
            'matrix.toml:2: [matrix] compose: must be a list of strings, e.g. ["1.20.0"]',
        ),
        ('[matrix]\ncompose = ["one"]\n', "'one' is neither a release"),
        ('[matrix]\ncompose = ["1.20.0"]\ncli_build = ["2"]\n', "'2' is not one of default, 0, 1"),
        ('[matrix]\ncompose = ["1.20.0"]\nsdk = ["latest"]\n', "must be 'auto' or a release"),
        ('[matrix]\ncompose = ["1.20.0", "1.20.0"]\n', "lists a value twice"),
        ('[matrix]\ncompose = ["1.20.0"]\npre = "yes"\n', "pre: must be true or false"),
        (
            '[matrix]\ncompose = ["1.20.0"]\n[run]\ntimeout = -1\n',
            "matrix.toml:4: [run] timeout: must be a positive",
        ),
        (
            '[matrix]\ncompose = ["1.20.0"]\n[run]\norder = "random"\n',
            "order: 'random' is not one of",
        ),
        ('[matrix]\ncompose = ["1.20.0"]\n[run]\nuid = true\n', "uid: must be an integer"),
        ('[matrix]\ncompose = ["1.20.0"]\n[extra]\n', "unknown section [extra]"),
        ('[matrix]\ncompose = ["1.20.0"]\nexclude = [{when = "x"}]\n', "unknown key 'when'"),
        ('[matrix]\ncompose = ["1.20.0"]\n[compat]\nfoo = 1\n', "[compat]: unknown key 'foo'"),
        ("[matrix\n", "matrix.toml: "),
        ("[run]\ntimeout = 1\n", "missing [matrix] section"),
    ],
)
def test_bad_config_names_the_line_and_what_is_valid(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(text)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "none.toml")


def test_ranges_expand_to_latest_patch_per_minor_and_keep_version_text() -> None:
    config = parse_config(
        '[matrix]\ncompose = [">=1.10,<1.30", "1.20.0"]\nlatest_patch_only = true\n'
    )
    assert compose_versions(config, COMPOSE) == [
        "1.10.1",
        "1.19.0",
        "1.20.0",
        "1.20.1",
        "1.21.0",
        "1.29.2",
    ]
    everything = parse_config('[matrix]\ncompose = [">=1.9"]\npre = true\n')
    assert "1.21.0rc1" in compose_versions(everything, COMPOSE)
    assert compose_versions(everything, COMPOSE)[:2] == ["1.9.0", "1.10.0"]


def test_unknown_release_names_the_line_and_the_nearest() -> None:
    config = parse_config('[matrix]\n\ncompose = ["1.20.5"]\n')
    with pytest.raises(ConfigError) as error:
        compose_versions(config, COMPOSE)
    assert str(error.value).startswith("matrix.toml:3: [matrix] compose: '1.20.5' is not a")
    assert "1.20.1" in str(error.value) and "1.21.0" in str(error.value)


def test_range_matching_nothing_is_an_error() -> None:
    config = parse_config('[matrix]\ncompose = [">=3"]\n')
    with pytest.raises(ConfigError, match="matches no release"):
        compose_versions(config, COMPOSE)


def test_matrix_is_the_product_minus_exclusions() -> None:
    config = parse_config(
        '[matrix]\ncompose = ["1.19.0", "1.29.2"]\nsdk = ["auto", "3.1.4"]\n'
        'cli_build = ["default", "1"]\nexclude = [{compose = "<1.25", cli_build = "1"}]\n'
    )
    cells = expand_matrix(config, COMPOSE, SDK, ["seed"])
    assert [cell_id(c) for c in cells] == [
        "1.19.0",
        "1.19.0-sdk3.1.4",
        "1.29.2",
        "1.29.2-cli1",
        "1.29.2-sdk3.1.4",
        "1.29.2-sdk3.1.4-cli1",
    ]
    assert {c.order for c in cells} == {"compose-first"}


def test_matrix_rejects_unknown_scenarios_and_sdks() -> None:
    config = parse_config('[matrix]\ncompose = ["1.19.0"]\nscenario = ["seed", "nope"]\n')
    with pytest.raises(ConfigError, match="unknown scenario 'nope'"):
        expand_matrix(config, COMPOSE, SDK, ["seed"])
    config = parse_config('[matrix]\ncompose = ["1.19.0"]\nsdk = ["9.9.9"]\n')
    with pytest.raises(ConfigError, match=r"'9\.9\.9' is not a docker SDK release"):
        expand_matrix(config, COMPOSE, SDK, ["seed"])


def test_exclusion_matching() -> None:
    rule = Exclusion(compose="<1.25", cli_build="1")
    assert rule.matches("1.24.1", "auto", "1", "seed")
    assert not rule.matches("1.25.0", "auto", "1", "seed")
    assert not rule.matches("1.24.1", "auto", "default", "seed")


def test_compat_rules_can_come_from_another_file(tmp_path: Path) -> None:
    (tmp_path / "base.toml").write_text(
        '[matrix]\ncompose = ["1.20.0"]\n[[compat.override]]\npackage = "PyYAML"\n'
        'requirement = "PyYAML==5.1"\nreason = "r"\n'
    )
    other = tmp_path / "other.toml"
    other.write_text('[matrix]\ncompose = ["1.29.2"]\n[compat]\nfrom = "base.toml"\n')
    config = load_config(other)
    assert config.compose == ("1.29.2",)
    builtin = builtin_compat()
    assert config.compat.overrides[-1].requirement == "PyYAML==5.1"  # after the harness's own
    assert config.compat.overrides[:-1] == builtin.overrides
    assert (
        load_config(ROOT / "matrix-scenarios.toml").compat
        == load_config(ROOT / "matrix.toml").compat
    )
    other.write_text(
        '[matrix]\ncompose = ["1.29.2"]\n[compat]\nfrom = "base.toml"\nunpinned = []\n'
    )
    with pytest.raises(ConfigError, match="from: must be the only key"):
        load_config(other)
    other.write_text('[matrix]\ncompose = ["1.29.2"]\n[compat]\nfrom = "none.toml"\n')
    with pytest.raises(ConfigError, match=r"none\.toml: cannot read"):
        load_config(other)


@pytest.mark.parametrize(
    ("exclude", "message"),
    [
        ('{cli_build = "7"}', "cli_build = '7' can never match: [matrix] cli_build lists default"),
        ('{sdk = "3.1.4"}', "sdk = '3.1.4' can never match: [matrix] sdk lists auto"),
        ('{scenario = "sead"}', "scenario = 'sead' can never match"),
    ],
)
def test_an_exclusion_outside_the_matrix_axes_is_rejected(exclude: str, message: str) -> None:
    text = f'[matrix]\ncompose = ["1.20.0"]\nexclude = [{exclude}]\n'
    with pytest.raises(ConfigError) as error:
        parse_config(text)
    assert f"matrix.toml:3: [matrix] exclude: {message}" in str(error.value)


def test_an_exclusion_matching_no_compose_release_of_the_matrix_is_rejected() -> None:
    config = parse_config('[matrix]\ncompose = ["1.20.0"]\nexclude = [{compose = "<1.10"}]\n')
    with pytest.raises(ConfigError, match=r"compose '<1.10' can never match"):
        expand_matrix(config, COMPOSE, SDK, ["seed"])


def test_a_series_in_the_matrix_is_rejected_as_repro_rejects_it() -> None:
    config = parse_config('[matrix]\ncompose = ["1.20"]\n')
    with pytest.raises(ConfigError) as error:
        compose_versions(config, COMPOSE)
    assert "matrix.toml:2: [matrix] compose: '1.20' is a series, not a release" in str(error.value)
    assert "'1.20.0'" in str(error.value) and "\n" not in str(error.value)
    assert compose_versions(parse_config('[matrix]\ncompose = ["1.20.0"]\n'), COMPOSE) == ["1.20.0"]


def test_a_matrix_file_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "matrix.toml"
    path.write_bytes(b'[matrix]\n# caf\xe9\ncompose = ["1.20.0"]\n')
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value) == f"{path}:2: not UTF-8 text (byte 0xe9); save the file as UTF-8"


def test_engine_and_cli_axes_name_cells_and_exclusions_match_them() -> None:
    config = parse_config(
        '[matrix]\ncompose = ["1.20.0", "1.29.2"]\nengine = ["20.10", "28.5"]\n'
        'cli = ["28.5"]\nexclude = [{engine = "20.10", compose = ">=1.21"}]\n'
    )
    cells = expand_matrix(config, COMPOSE, SDK, ["seed"])
    assert [cell_id(spec) for spec in cells] == [
        "1.20.0-e20.10-c28.5",
        "1.20.0-e28.5-c28.5",
        "1.29.2-e28.5-c28.5",
    ]
    plain = expand_matrix(parse_config('[matrix]\ncompose = ["1.20.0"]\n'), COMPOSE, SDK, ["seed"])
    assert [(spec.engine, spec.cli, cell_id(spec)) for spec in plain] == [("", "", "1.20.0")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('engine = ["latest"]', "matrix.toml:3: [matrix] engine: 'latest' is not a Docker version"),
        ('cli = ["/usr/bin/docker"]', "[matrix] cli: '/usr/bin/docker' is not a Docker version"),
        ("engine = []", "[matrix] engine: is empty"),
        ('engine = ["28.5"]\nexclude = [{engine = "26.1"}]', "engine = '26.1' can never match"),
    ],
)
def test_bad_engine_or_cli_axis_is_one_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_config(f'[matrix]\ncompose = ["1.20.0"]\n{text}\n')


@pytest.mark.parametrize(
    ("typed", "split"),
    [
        (None, ("", None)),
        ("28.5", ("28.5", None)),
        ("20.10.24", ("20.10.24", None)),
        ("/usr/bin/docker", ("", "/usr/bin/docker")),
        ("docker", ("", "docker")),
        ("unix:///run/x.sock", ("", "unix:///run/x.sock")),
    ],
)
def test_engine_and_cli_options_are_a_version_or_a_path(
    typed: str | None, split: tuple[str, str | None]
) -> None:
    assert split_tool(typed) == split
