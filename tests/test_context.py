"""Build contexts: the copy looks like the checkout the scenario describes."""

from __future__ import annotations

import os
import socket
import stat
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.core.buildkind import Builders
from harness.core.scenarios import CellScope, ScenarioError, parse_scenarios
from harness.edges.context import (
    ContextError,
    Owner,
    materialize,
    owner_for,
    rewrite_dockerfile,
    rewrite_in_copy,
)
from harness.edges.contextdigest import tree_entries
from harness.edges.fixtures import get_scenario, load_scenarios, project_scenario
from tests.snapshots import tree_snapshot


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
                assert scenario.expected(CellScope(compose, cli_build, None)), (
                    scenario.name,
                    compose,
                )
    assert (build_path("1.24.1", "1"), build_path("1.25.0", "1")) == ("sdk", "cli")
    assert (build_path("1.27.4", "default"), build_path("1.28.0", "default")) == ("sdk", "cli")
    assert build_path("1.29.2", "0") == "sdk"


def test_expectations_match_behaviours() -> None:
    scenario = load_scenarios()["dockerfile-excluded"]
    fails = scenario.expected(CellScope("1.20.0", "default", "3.1.1"))
    assert fails is not None and fails.matches(
        "fails: compose: Cannot locate specified Dockerfile: ./Dockerfile"
    )
    assert not fails.matches("shared") and not fails.matches(None)
    works = scenario.expected(CellScope("1.20.0", "default", "3.1.3"))
    assert works is not None and works.matches("shared") and not works.matches("diverged@3")


def test_expectations_are_keyed_by_the_reference_cli_engine_and_order() -> None:
    """The 20.10 CLI sends file-type bits in the mode (0100644), the 28.x CLI does not: the
    same cell is expected to behave differently with each."""
    scenario = parse_scenarios(
        '[a]\ndescription="d"\nvaries="v"\nfixture="f"\ndockerfile="D"\nservice="s"\n'
        'base="busybox"\nowner="root"\n'
        '[[a.expect]]\nbehaviour="diverged@2"\norder="cli-first"\nsource="s"\n'
        '[[a.expect]]\nbehaviour="diverged@3"\npath="sdk"\ncli="<23"\nsource="s"\n'
        '[[a.expect]]\nbehaviour="fails"\nengine=">=27"\nsource="s"\n'
        '[[a.expect]]\nbehaviour="shared"\nsource="s"\n'
    )["a"]

    def expected(cli: str | None, engine: str | None = "20.10.24", order: str = "compose-first"):
        found = scenario.expected(CellScope("1.27.4", "default", "4.4.4", cli, engine, order))
        return found.behaviour if found else None

    assert expected("20.10.24+dfsg1") == "diverged@3"
    assert expected("28.2.2") == "shared"
    assert expected("28.2.2", order="cli-first") == "diverged@2"
    assert expected("28.2.2", engine="28.2.2") == "fails"
    assert expected(None) == "shared" and expected("not-a-version") == "shared"
    assert (
        scenario.expected(CellScope("1.29.2", "default", "4.4.4", "20.10.24")).behaviour == "shared"
    )


BUILDERS = st.sampled_from(["legacy", "buildkit"])


@given(compose=BUILDERS, cli=BUILDERS, wanted_compose=BUILDERS, wanted_cli=BUILDERS)
def test_an_expectation_keyed_by_builder_applies_only_to_cells_that_used_those_builders(
    compose: str, cli: str, wanted_compose: str, wanted_cli: str
) -> None:
    """The legacy tar's differences never reach a BuildKit build: an expectation names the
    builders it holds for (spelled either way), and a cell built otherwise falls through."""
    spelled = f"cli={wanted_cli},compose={wanted_compose}"
    scenario = parse_scenarios(
        '[a]\ndescription="d"\nvaries="v"\nfixture="f"\ndockerfile="D"\nservice="s"\n'
        'base="busybox"\nowner="root"\n'
        f'[[a.expect]]\nbehaviour="diverged@3"\nbuilder="{spelled}"\nsource="s"\n'
        '[[a.expect]]\nbehaviour="shared"\nsource="s"\n'
    )["a"]
    used = f"compose={compose},cli={cli}" if compose != cli else compose
    found = scenario.expected(
        CellScope("2.40.3", "default", None, "20.10.24", builder=Builders.parse(used))
    )
    assert found is not None
    wanted = (wanted_compose, wanted_cli) == (compose, cli)
    assert found.behaviour == ("diverged@3" if wanted else "shared")


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
        (
            '[a]\ndescription="d"\nvaries="v"\nfixture="f"\ndockerfile="D"\nservice="s"\n'
            'base="busybox"\nowner="root"\n[[a.expect]]\nbehaviour="shared"\nsource="s"\n'
            'cli="new"\n',
            "compose, sdk, cli and engine must be PEP 440 ranges",
        ),
        (
            '[a]\ndescription="d"\nvaries="v"\nfixture="f"\ndockerfile="D"\nservice="s"\n'
            'base="busybox"\nowner="root"\n[[a.expect]]\nbehaviour="shared"\nsource="s"\n'
            'order="random"\n',
            "order must be one of compose-first, cli-first",
        ),
        (
            '[a]\ndescription="d"\nvaries="v"\nfixture="f"\ndockerfile="D"\nservice="s"\n'
            'base="busybox"\nowner="root"\n[[a.expect]]\nbehaviour="shared"\nsource="s"\n'
            'builder="buildx"\n',
            "builder 'buildx' is not legacy or buildkit or default",
        ),
        (
            '[a]\ndescription="d"\nvaries="v"\nfixture="f"\ndockerfile="D"\nservice="s"\n'
            'base="busybox"\nowner="root"\n[[a.expect]]\nbehaviour="shared"\nsource="s"\n'
            'builder="default"\n',
            "builder names the builders used",
        ),
        (
            '[a]\ndescription="d"\nvaries="v"\nfixture="f"\ndockerfile="D"\nservice="s"\n'
            'base="busybox"\nowner="root"\nfifos=["../pipe"]\n',
            "fifos: '../pipe' is not a path inside the fixture",
        ),
        (
            '[a]\ndescription="d"\nvaries="v"\nfixture="f"\ndockerfile="D"\nservice="s"\n'
            'base="busybox"\nowner="root"\nhard_links=["a"]\n',
            "hard_links must map new paths to files",
        ),
        (
            '[a]\ndescription="d"\nvaries="v"\nfixture="f"\ndockerfile="D"\nservice="s"\n'
            'base="busybox"\nowner="root"\nonbuild=["ADD a /a\\nRUN b"]\n',
            "onbuild must list one-line instructions",
        ),
        (
            '[a]\ndescription="d"\nvaries="v"\nfixture="f"\ndockerfile="D"\nservice="s"\n'
            'base="registry"\nowner="root"\nonbuild=["ADD a /a"]\n',
            'onbuild needs base = "busybox"',
        ),
    ],
)
def test_bad_scenario_declarations(text: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_scenarios(text)


def _linked_project(root: Path, link: str) -> Path:
    """A project whose Dockerfile is a link (``link`` with {project} and {outside} filled in)
    to docker/Dockerfile.prod inside it or to a Dockerfile outside it."""
    project, outside = root / "proj", root / "elsewhere"
    (project / "docker").mkdir(parents=True)
    outside.mkdir()
    for folder in (project / "docker", outside):
        (folder / "Dockerfile.prod").write_text("FROM myorg/base:1\nCOPY . /app\n")
        os.chown(folder / "Dockerfile.prod", 1000, 1000)
        (folder / "Dockerfile.prod").chmod(0o640)
    (project / "docker-compose.yml").write_text("services:\n  web:\n    build: .\n")
    target = link.format(project=project, outside=outside)
    os.symlink(target, project / "Dockerfile")
    return project


@pytest.mark.parametrize(
    ("link", "copied_at"),
    [
        ("docker/Dockerfile.prod", "docker/Dockerfile.prod"),  # relative, inside
        ("{project}/docker/Dockerfile.prod", "docker/Dockerfile.prod"),  # absolute, inside
        ("{outside}/Dockerfile.prod", None),  # absolute, out of the project
        ("../elsewhere/Dockerfile.prod", None),  # relative, out of the project
    ],
)
def test_a_linked_dockerfile_is_never_written_through(
    tmp_path: Path, link: str, copied_at: str | None
) -> None:
    project = _linked_project(tmp_path / "user", link)
    before = tree_snapshot(tmp_path / "user")
    work = tmp_path / "work"
    context = materialize(project_scenario(project, "web"), work / "copy", "cache-bisect/b:1", None)
    assert tree_snapshot(tmp_path / "user") == before  # nothing of the user's, inside or outside
    read = Path(os.path.realpath(context.dockerfile))
    assert read.read_text() == "FROM cache-bisect/b:1\nCOPY . /app\n"
    assert read.is_relative_to(work) and (read.stat().st_uid, mode(read)) == (1000, 0o640)
    if copied_at is not None:  # the client reads the copy's own file, as it would the user's
        assert read == Path(os.path.realpath(context.path / copied_at))
    else:  # a fresh file beside the copy, not in the context
        assert not read.is_relative_to(os.path.realpath(context.path))
    if not link.startswith("{"):  # a relative link keeps its text
        assert os.readlink(context.path / "Dockerfile") == link


def test_a_dockerfile_through_a_linked_folder_out_of_the_project_is_an_error(
    tmp_path: Path,
) -> None:
    project = tmp_path / "user" / "proj"
    (tmp_path / "user" / "shared").mkdir(parents=True)
    (tmp_path / "user" / "shared" / "Dockerfile").write_text("FROM a:1\n")
    project.mkdir()
    (project / "docker").symlink_to(tmp_path / "user" / "shared")
    (project / "docker-compose.yml").write_text(
        "services:\n  web:\n    build:\n      context: .\n      dockerfile: docker/Dockerfile\n"
    )
    before = tree_snapshot(tmp_path / "user")
    with pytest.raises(ContextError, match="outside the project folder"):
        materialize(project_scenario(project, "web"), tmp_path / "work", "b:1", None)
    assert tree_snapshot(tmp_path / "user") == before


def test_a_hard_linked_dockerfile_is_an_error_not_a_changed_twin(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "Dockerfile").write_text("FROM a:1\n")
    os.link(project / "Dockerfile", project / "Dockerfile.copy")
    (project / "docker-compose.yml").write_text("services:\n  web:\n    build: .\n")
    with pytest.raises(ContextError, match="hard-linked to another file"):
        materialize(project_scenario(project, "web"), tmp_path / "work", "b:1", None)


def test_a_linked_compose_file_is_rewritten_in_the_copy_only(tmp_path: Path) -> None:
    project = _linked_project(tmp_path / "user", "docker/Dockerfile.prod")
    (project / "compose").mkdir()
    (project / "docker-compose.yml").rename(project / "compose" / "main.yml")
    (project / "docker-compose.yml").symlink_to(project / "compose" / "main.yml")
    before = tree_snapshot(tmp_path / "user")
    copy = tmp_path / "work" / "copy"
    materialize(project_scenario(project, "web"), copy, "b:1", None)
    written = rewrite_in_copy(project, copy, Path("docker-compose.yml"), str.upper, copy.parent)
    assert tree_snapshot(tmp_path / "user") == before
    assert written == Path(os.path.realpath(copy / "compose" / "main.yml"))
    assert (copy / "docker-compose.yml").read_text().startswith("SERVICES:")


def test_the_copy_keeps_every_special_file_field(tmp_path: Path) -> None:
    """Hard-link pairs, fifos, sockets, setuid and security.capability after the owner."""
    project = tmp_path / "proj"
    project.mkdir()
    (project / "Dockerfile").write_text("FROM a:1\nCOPY . /app\n")
    (project / "docker-compose.yml").write_text("services:\n  web:\n    build: .\n")
    (project / "a").write_text("twin\n")
    os.link(project / "a", project / "b")
    os.mkfifo(project / "pipe")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(project / "sock"))
    tool = project / "tool"
    tool.write_bytes(b"\x7fELF")
    os.chown(tool, 1000, 1000)
    tool.chmod(0o4755)
    os.setxattr(tool, "security.capability", struct.pack("<5I", 0x02000001, 1 << 13, 0, 0, 0))
    (project / "Dockerfile").chmod(0o2644)
    os.setxattr(project / "Dockerfile", "user.origin", b"checkout")
    copy = tmp_path / "work" / "copy"
    materialize(project_scenario(project, "web"), copy, "b:1", None)
    original, copied = tree_snapshot(project), tree_snapshot(copy)

    def fields(snapshot: dict[str, tuple[object, ...]], root: Path) -> dict[str, object]:
        # type, link, uid, gid, mode, mtime, size, nlink, xattrs (not the inode, not content)
        return {
            os.path.relpath(path, root): (*entry[:7], entry[8], entry[10])
            for path, entry in snapshot.items()
            if path != str(root / "Dockerfile")
        }

    assert fields(copied, copy) == fields(original, project)
    dockerfile = copied[str(copy / "Dockerfile")]
    assert dockerfile[4] == original[str(project / "Dockerfile")][4]  # setgid kept
    assert dockerfile[10] == (("user.origin", b"checkout".hex()),)
    assert copied[str(copy / "a")][7] == copied[str(copy / "b")][7]  # still one pair


def test_a_rewritten_dockerfile_gets_a_new_mtime(tmp_path: Path) -> None:
    """BuildKit's file sync trusts size and mtime: a FROM rewritten to a base name of the same
    length under the fixture's old mtime was read from another cell's cached Dockerfile."""
    first = materialize(get_scenario("seed"), tmp_path / "a", "cache-bisect/base:aaaa", None)
    second = materialize(get_scenario("seed"), tmp_path / "b", "cache-bisect/base:bbbb", None)
    fixture = get_scenario("seed").fixture_dir() / "Dockerfile"
    sizes = {first.dockerfile.stat().st_size, second.dockerfile.stat().st_size}
    assert len(sizes) == 1  # same length: only the mtime can tell the two apart
    assert first.dockerfile.stat().st_mtime_ns != fixture.stat().st_mtime_ns
    assert second.dockerfile.stat().st_mtime_ns != fixture.stat().st_mtime_ns
    assert "base:bbbb" in second.dockerfile.read_text()


def test_a_scenario_s_special_entries_are_made_in_the_copy_with_its_owner(tmp_path: Path) -> None:
    """Entries git cannot hold: the hard-linked pair, the fifo and the socket get the owner
    and modes of the checkout; the capability is set after the owner (chown clears it)."""
    links = materialize(get_scenario("hard-links"), tmp_path / "l", "b:1", Owner(1000, 1000))
    pair = [(links.path / name).lstat() for name in ("a.txt", "a/twin")]
    assert pair[0].st_ino == pair[1].st_ino and pair[0].st_nlink == 2
    assert (pair[0].st_uid, pair[0].st_gid, mode(links.path / "a")) == (1000, 1000, 0o755)

    special = materialize(get_scenario("special-files"), tmp_path / "s", "b:1", Owner(7, 8))
    pipe, sock = ((special.path / name).lstat() for name in ("pipe", "sock"))
    assert stat.S_ISFIFO(pipe.st_mode) and stat.S_ISSOCK(sock.st_mode)
    assert {(e.st_uid, e.st_gid, stat.S_IMODE(e.st_mode)) for e in (pipe, sock)} == {(7, 8, 0o644)}

    capability = materialize(get_scenario("capability"), tmp_path / "c", "b:1", Owner(1000, 1000))
    ping = capability.path / "ping"
    net_raw = struct.pack("<5I", 0x02000001, 1 << 13, 0, 0, 0)  # as setcap cap_net_raw+ep
    assert os.getxattr(ping, "security.capability") == net_raw
    assert (ping.lstat().st_uid, mode(ping)) == (1000, 0o755)


def test_an_xattr_the_copy_cannot_hold_is_an_error_not_a_copy_without_it(tmp_path: Path) -> None:
    """A working copy on a file system without xattrs (ramfs) would lose them silently under
    plain ``cp -a`` and the clients would send something else: the cell is an error."""
    project = tmp_path / "proj"
    project.mkdir()
    (project / "Dockerfile").write_text("FROM a:1\nCOPY . /app\n")
    (project / "docker-compose.yml").write_text("services:\n  web:\n    build: .\n")
    os.setxattr(project / "Dockerfile", "user.origin", b"checkout")
    work = tmp_path / "work"
    work.mkdir()
    subprocess.run(["mount", "-t", "ramfs", "none", str(work)], check=True)
    try:
        with pytest.raises(ContextError, match=r"cannot be copied faithfully: .*not supported"):
            materialize(project_scenario(project, "web"), work / "copy", "b:1", None)
    finally:
        subprocess.run(["umount", str(work)], check=True)


@pytest.mark.parametrize(
    "link",
    ["docker/Dockerfile.prod", "{project}/docker/Dockerfile.prod", "{outside}/Dockerfile.prod"],
)
def test_a_second_change_to_the_built_dockerfile_is_a_fresh_file_of_the_copy(
    tmp_path: Path, link: str
) -> None:
    """A remedy's --chown: the built Dockerfile changed again, never through a link."""
    project = _linked_project(tmp_path / "user", link)
    before = tree_snapshot(tmp_path / "user")
    context = materialize(project_scenario(project, "web"), tmp_path / "work", "cb/b:1", None)
    read = Path(os.path.realpath(context.dockerfile))
    with read.open() as old:  # the old file stays open: a write through it would show here
        rewrite_dockerfile(context, lambda text: text.replace("COPY", "COPY --chown=0:0"))
        assert old.read() == "FROM cb/b:1\nCOPY . /app\n"
    assert tree_snapshot(tmp_path / "user") == before
    assert context.dockerfile.read_text() == "FROM cb/b:1\nCOPY --chown=0:0 . /app\n"
    assert (read.stat().st_uid, mode(read)) == (1000, 0o640)
