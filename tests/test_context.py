"""Build contexts: the copy looks like the checkout the scenario describes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from harness.core.scenarios import ScenarioError, parse_scenarios
from harness.edges.context import Owner, materialize, owner_for
from harness.edges.contextdigest import tree_entries
from harness.edges.fixtures import get_scenario, load_scenarios, project_scenario


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_seed_copy_has_a_developer_checkouts_owner_and_modes(tmp_path: Path) -> None:
    scenario = get_scenario("seed")
    context = materialize(scenario, tmp_path / "p", "cache-bisect/base:x", Owner(1000, 1000))
    assert sorted(p.name for p in context.path.iterdir()) == [
        "Dockerfile",
        "blah.txt",
        "docker-compose.yml",
    ]  # other Dockerfile variants stay out
    assert "FROM cache-bisect/base:x" in context.dockerfile.read_text().splitlines()
    for path in [context.path, *context.path.rglob("*")]:
        assert (path.stat().st_uid, path.stat().st_gid) == (1000, 1000)
        assert mode(path) == (0o755 if path.is_dir() else 0o644)


def test_variant_becomes_the_dockerfile(tmp_path: Path) -> None:
    context = materialize(get_scenario("seed-alpine"), tmp_path / "p", "base:y", Owner(0, 0))
    text = context.dockerfile.read_text()
    assert text.startswith("FROM base:y\n") and "apk add --no-cache openssh-keygen" in text
    assert not (context.path / "Dockerfile.alpine").exists()


def test_umask_and_executable_bits(tmp_path: Path) -> None:
    group = materialize(get_scenario("umask-002"), tmp_path / "a", "b", Owner(0, 0))
    assert mode(group.path / "blah.txt") == 0o664 and mode(group.path) == 0o775
    assert mode(group.path / "run.sh") == 0o664
    executable = materialize(get_scenario("executable"), tmp_path / "b", "b", Owner(0, 0))
    assert mode(executable.path / "run.sh") == 0o755
    assert mode(executable.path / "blah.txt") == 0o644


def test_custom_dockerfile_outside_the_context(tmp_path: Path) -> None:
    context = materialize(get_scenario("custom-dockerfile"), tmp_path / "p", "b:1", Owner(0, 0))
    assert context.dockerfile == tmp_path / "p" / "docker" / "Custom.Dockerfile"
    assert context.build.cli_options() == ["--file", "docker/Custom.Dockerfile"]
    assert context.build.context == "./app"


def test_symlinked_folder_stays_a_link(tmp_path: Path) -> None:
    context = materialize(get_scenario("symlink-dir"), tmp_path / "p", "b:1", Owner(0, 0))
    assert (context.path / "linked").is_symlink()
    assert os.readlink(context.path / "linked") == "real"


def test_project_keeps_owners_and_is_not_modified(tmp_path: Path) -> None:
    project = tmp_path / "mine"
    (project / "src").mkdir(parents=True)
    (project / "Dockerfile").write_text("FROM myorg/base:1\nCOPY src /src\n")
    (project / "src" / "a.py").write_text("print(1)\n")
    (project / "docker-compose.yml").write_text("services:\n  web:\n    build: .\n")
    os.chown(project / "src" / "a.py", 1234, 4321)
    (project / "src" / "a.py").chmod(0o600)
    before = tree_entries(project)
    scenario = project_scenario(project, "web")
    assert owner_for(scenario, 1000, 1000) is None
    context = materialize(scenario, tmp_path / "copy", "cache-bisect/base:z", None)
    copied = context.path / "src" / "a.py"
    assert (copied.stat().st_uid, copied.stat().st_gid, mode(copied)) == (1234, 4321, 0o600)
    assert context.dockerfile.read_text().startswith("FROM cache-bisect/base:z\n")
    assert (project / "Dockerfile").read_text().startswith("FROM myorg/base:1\n")
    assert tree_entries(project) == before


def test_project_copy_is_faithful_other_dockerfiles_included(tmp_path: Path) -> None:
    project = tmp_path / "mine"
    (project / "Dockerfile.d").mkdir(parents=True)
    (project / "sub").mkdir()
    (project / "Dockerfile").write_text("FROM myorg/base:1\nCOPY . /app\n")
    (project / "Dockerfile.dev").write_text("FROM myorg/dev:1\n")
    (project / "Dockerfile.d" / "notes").write_text("x\n")
    (project / "sub" / "Dockerfile").write_text("FROM other:1\n")
    (project / "docker-compose.yml").write_text("services:\n  web:\n    build: .\n")
    os.chown(project / "Dockerfile.dev", 1000, 1001)
    (project / "Dockerfile.dev").chmod(0o640)
    os.chown(project / "Dockerfile", 1234, 1234)
    (project / "Dockerfile").chmod(0o600)
    context = materialize(project_scenario(project, "web"), tmp_path / "copy", "b:9", None)
    original, copied = tree_entries(project), tree_entries(context.path)
    assert [e for e in copied if e[0] != "Dockerfile"] == [
        e for e in original if e[0] != "Dockerfile"
    ]  # every file, folder, owner and mode; other Dockerfiles untouched
    assert [e[:5] for e in copied] == [e[:5] for e in original]  # the built one too, but FROM
    assert context.dockerfile.read_text() == "FROM b:9\nCOPY . /app\n"


def test_project_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="not a folder"):
        project_scenario(tmp_path / "none", "web")
    (tmp_path / "docker-compose.yml").write_text("services:\n  db:\n    image: x\n")
    with pytest.raises(
        ScenarioError, match=r"no service 'web' in the compose file \(services: db\)"
    ):
        project_scenario(tmp_path, "web")


def test_every_scenario_states_what_it_varies() -> None:
    scenarios = load_scenarios()
    assert {
        "seed",
        "root-owned",
        "copy-all",
        "umask-002",
        "executable",
        "dockerignore",
        "symlink-dir",
        "custom-dockerfile",
        "build-args",
        "seed-alpine",
    } <= set(scenarios)
    assert all(s.varies and s.description for s in scenarios.values())


def test_every_scenario_declares_its_expected_behaviour_with_a_source() -> None:
    from harness.core.scenarios import build_path

    for scenario in load_scenarios().values():
        assert scenario.expect and all("https://" in e.source for e in scenario.expect)
        for compose in ("1.19.0", "1.20.0", "1.24.1", "1.25.5", "1.27.4", "1.28.6", "1.29.2"):
            for cli_build in ("default", "0", "1"):
                assert scenario.expected(compose, cli_build, None), (scenario.name, compose)
    assert (build_path("1.24.1", "1"), build_path("1.25.0", "1")) == ("sdk", "cli")
    assert (build_path("1.27.4", "default"), build_path("1.28.0", "default")) == ("sdk", "cli")
    assert build_path("1.29.2", "0") == "sdk"


def test_expectations_match_behaviours() -> None:
    scenario = load_scenarios()["dockerfile-excluded"]
    fails = scenario.expected("1.20.0", "default", "3.1.1")
    assert fails is not None and fails.matches(
        "fails: compose: Cannot locate specified Dockerfile: ./Dockerfile"
    )
    assert not fails.matches("shared") and not fails.matches(None)
    works = scenario.expected("1.20.0", "default", "3.1.3")
    assert works is not None and works.matches("shared") and not works.matches("diverged@3")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[a]\nfixture = 1\n", "unknown key|missing key|must be"),
        (
            '[a]\ndescription="d"\nvaries="v"\nfixture="f"\ndockerfile="D"\nservice="s"\n'
            'base="cloud"\nowner="root"\n',
            "base must be one of",
        ),
        (
            '[a]\ndescription="d"\nvaries="v"\nfixture="f"\ndockerfile="D"\nservice="s"\n'
            'base="busybox"\nowner="root"\numask="22"\n',
            "umask must be three octal digits",
        ),
        (
            '[a]\ndescription="d"\nvaries="v"\nfixture="f"\ndockerfile="D"\nservice="s"\n'
            'base="busybox"\nowner="root"\ncolour="red"\n',
            "unknown key 'colour'",
        ),
        (
            '[a]\ndescription="d"\nvaries="v"\nfixture="f"\ndockerfile="D"\nservice="s"\n'
            'base="busybox"\nowner="root"\n[[a.expect]]\nbehaviour="works"\nsource="s"\n',
            "is not shared, diverged@N or fails",
        ),
        (
            '[a]\ndescription="d"\nvaries="v"\nfixture="f"\ndockerfile="D"\nservice="s"\n'
            'base="busybox"\nowner="root"\n[[a.expect]]\nbehaviour="shared"\n',
            "behaviour and source must be",
        ),
    ],
)
def test_bad_scenario_declarations(text: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_scenarios(text)
