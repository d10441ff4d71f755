"""Explain proves the cause of a miss with hybrid builds on the real engine.

The expected causes are what the builds show on the engines we run (uid/gid matter, uname/gname
do not; an extra file sent by an old SDK matters); the assertions also check that each label
is backed by the probes recorded with it, and that no probe image outlives its cell."""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from harness.app.explain import EXPLAIN_BUDGET, Experiment, explain
from harness.app.runner import CellRunner
from harness.core.hybrid import probe_query
from harness.core.labels import cell_filter
from harness.core.model import CellSpec, StepComparison
from harness.edges.baseimage import busybox_rootfs, create_base, find_static_busybox
from harness.edges.chains import remove_cell_artifacts
from harness.edges.engine import Engine
from harness.edges.hybrid import ProbeError, build_step_image

pytestmark = pytest.mark.engine


def check_probes(cell: dict[str, Any]) -> dict[str, Any]:
    """The recorded probes agree with the labels: the control rebuilt the first image, the
    proven set hit, and the set without any one of its members missed."""
    cause = cell["explain_cause"]
    probes = cause["probes"]
    assert cause["builds"] == len(probes) <= EXPLAIN_BUDGET
    diverged = next(s for s in cell["steps"] if s["step"] == cell["diverged_at"]["step"])
    first_image, second_image = diverged["first"]["image"], diverged["second"]["image"]
    assert probes[0] == {"applied": [], "image": first_image, "hit": False, "control": True}
    for probe in probes[1:]:
        assert probe["hit"] == (probe["image"] == second_image)
    minimal = {f"{e['path']} {e['field']}" for e in cause["minimal"]}
    outcome = {frozenset(p["applied"]): p["hit"] for p in probes[1:]}
    assert outcome[frozenset(minimal)] is True
    for member in minimal:
        if len(minimal) > 1:
            assert outcome[frozenset(minimal - {member})] is False
    return cause


def no_images_left(engine: Engine, cell: dict[str, Any]) -> bool:
    """Nothing labelled with the cell survives it, the probe images included (they carried
    the label, or the cleanup would not have found them)."""
    probe_images = {p["image"] for p in cell["explain_cause"]["probes"]}
    present = {image.id for image in engine.client.images.list(all=True)}
    labelled = engine.client.images.list(all=True, filters=cell_filter(cell["cell_id"]))
    return not labelled and not probe_images & present


def test_seed_cause_is_uid_and_gid_not_the_owner_names(runner: CellRunner, engine: Engine) -> None:
    cell = runner.run(CellSpec(compose="1.27.4", explain=True)).to_json()
    assert cell["verdict"] == "diverged" and cell["diverged_at"]["step"] == 3
    cause = check_probes(cell)
    assert cause["status"] == "proven"
    labels = {(e["path"], e["field"]): e["cause"] for e in cell["explain"] if e["path"]}
    assert labels == {
        ("blah.txt", "uid"): "proven",
        ("blah.txt", "gid"): "proven",
        ("blah.txt", "uname"): "not-a-cause",
        ("blah.txt", "gname"): "not-a-cause",
    }
    # docker-py's query parameters differ from the CLI's (dockerfile, nocache, pull, ...):
    # replayed with the CLI's values they are ruled out like the context's fields
    request = {e["field"]: e["cause"] for e in cell["explain"] if not e["path"]}
    assert request and set(request.values()) == {"not-a-cause"}, request
    assert cell["timings"]["explain"] > 0
    assert no_images_left(engine, cell)


def test_a_miss_in_a_builder_stage_is_proven_at_its_step(
    runner: CellRunner, engine: Engine
) -> None:
    """Multi-stage: the first miss is the builder stage's ADD, step 4 as the builder numbers it
    (the ARG before FROM and each FROM count); the probes read that step from their own log
    and prove its cause, although the final image was reused."""
    spec = CellSpec(compose="1.29.2", scenario="multistage", cli_build="0", explain=True)
    cell = runner.run(spec).to_json()
    assert cell["verdict"] == "diverged", cell["reason"]
    assert cell["diverged_at"] == {
        "step": 4, "instruction": "ADD blah.txt /src/blah.txt", "stage": "builder"
    }  # fmt: skip
    assert cell["final_image_reused"] is True
    cause = check_probes(cell)
    assert cause["status"] == "proven", cause
    proven = {(e["path"], e["field"]) for e in cell["explain"] if e["cause"] == "proven"}
    assert {("blah.txt", "uid"), ("blah.txt", "gid")} <= proven
    assert no_images_left(engine, cell)


def test_dockerignore_trailing_whitespace_extra_file_is_the_only_cause(
    runner: CellRunner, engine: Engine
) -> None:
    """docker SDK 2.7.0 keeps `trailing.txt   ` as a pattern with spaces, so it sends the file
    the CLI leaves out; COPY . copies it, and that alone is the miss."""
    spec = CellSpec(compose="1.19.0", scenario="dockerignore", cli_build="0", explain=True)
    cell = runner.run(spec).to_json()
    assert cell["sdk"] == "2.7.0"
    assert cell["verdict"] == "diverged"
    cause = check_probes(cell)
    assert cause["status"] == "proven"
    assert cause["minimal"] == [
        {"path": "trailing.txt", "field": "present", "compose": True, "cli": False}
    ]
    others = [e for e in cell["explain"] if e["path"] != "trailing.txt"]
    assert others and {e["cause"] for e in others} == {"not-a-cause"}
    assert no_images_left(engine, cell)


def test_copy_all_cause_is_every_uid_and_gid_the_step_reads(runner: CellRunner) -> None:
    """COPY . reads every file: all their uid/gid differences are needed, owner names not."""
    spec = CellSpec(compose="1.27.4", scenario="copy-all", cli_build="0", explain=True)
    cell = runner.run(spec).to_json()
    cause = check_probes(cell)
    assert cause["status"] == "proven"
    assert {(e["path"], e["field"]) for e in cause["minimal"]} == {
        (path, field)
        for path in ("Dockerfile", "blah.txt", "docker-compose.yml")
        for field in ("uid", "gid")
    }
    names = [e for e in cell["explain"] if e["field"] in ("uname", "gname")]
    assert names and {e["cause"] for e in names} == {"not-a-cause"}


def _context(dockerfile: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        data = dockerfile.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_a_probe_build_reads_its_step_from_the_chain_and_refuses_unlabelled_images(
    engine: Engine,
) -> None:
    cell_id = f"probe{uuid.uuid4().hex[:8]}"
    base = create_base(engine.client, "busybox", "busybox", cell_id)
    stray = f"cache-bisect/unlabelled:{cell_id}"
    engine.client.api.import_image_from_data(
        busybox_rootfs(find_static_busybox()), repository=stray.split(":")[0], tag=cell_id
    )

    def probe(as_cell: str, start: str) -> str:
        return build_step_image(
            engine.client,
            engine.host,
            path="/v1.41/build",
            query=probe_query({"t": ["someone/else:tag"]}),
            headers={"content-type": "application/x-tar"},
            context=_context(f"FROM {start}\nLABEL probe=yes\n"),
            steps=2,
            step=2,
            cell_id=as_cell,
            timeout=120,
        )

    try:
        image = probe(cell_id, base)
        assert engine.client.images.get(image).labels["probe"] == "yes"
        assert engine.client.images.get(image).attrs["Parent"] == engine.client.images.get(base).id
        assert not engine.client.images.list(name="someone/else")  # the tag was dropped
        with pytest.raises(ProbeError, match="does not carry the cell label"):
            probe("another-cell", base)  # another cell's image: left to that cell's cleanup
        assert image in {i.id for i in engine.client.images.list(all=True)}
        before = {i.id for i in engine.client.images.list(all=True)}
        with pytest.raises(ProbeError, match="does not carry the cell label"):
            probe(cell_id, stray)  # no cell's label: removed at once
        assert {i.id for i in engine.client.images.list(all=True)} == before
    finally:
        remove_cell_artifacts(engine.client, cell_id)
        engine.client.images.remove(stray, force=True)


def _capture(folder: Path, query: str, context: bytes) -> None:
    """A recorded connection holding one build request, as the recording proxy keeps it."""
    folder.mkdir()
    head = (
        f"POST /v1.41/build?{query} HTTP/1.1\r\nHost: docker\r\n"
        f"Content-Type: application/x-tar\r\nContent-Length: {len(context)}\r\n\r\n"
    )
    (folder / "conn-0001.bin").write_bytes(head.encode() + context)


def _request_context(dockerfile: str, uname: str = "") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in (("Dockerfile", dockerfile.encode()), ("x.txt", b"x\n")):
            info = tarfile.TarInfo(name)
            info.size, info.uname = len(data), uname if name == "x.txt" else ""
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _step_image(engine: Engine, cell_id: str, context: bytes, query: str, steps: int) -> str:
    return build_step_image(
        engine.client,
        engine.host,
        path="/v1.41/build",
        query={name: [value] for name, value in (p.split("=", 1) for p in query.split("&") if p)},
        headers={"content-type": "application/x-tar"},
        context=context,
        steps=steps,
        step=steps,
        cell_id=cell_id,
        timeout=120,
    )


def _explain(
    engine: Engine, tmp_path: Path, cell_id: str, sides: dict[str, tuple[str, bytes]], step: int
) -> tuple[Any, list[str]]:
    """Build each side's request in order (compose first), capture them as the proxy would,
    and explain the last step."""
    images = [_step_image(engine, cell_id, body, query, step) for query, body in sides.values()]
    for name, (query, body) in sides.items():
        _capture(tmp_path / name, quote(query, safe="=&"), body)
    diverged = StepComparison(step, "RUN ...", images[0], images[1], False, False)
    experiment = Experiment(engine, cell_id, "compose", step, diverged, timeout=120)
    return explain(tmp_path / "compose", tmp_path / "cli", "RUN ...", experiment, log=print), images


def test_a_build_arg_is_a_request_cause_proven_by_replaying_the_request(
    engine: Engine, tmp_path: Path
) -> None:
    """Same files (but an owner name), different build args: the replayed request with the
    other client's build args alone hits; the owner name does not matter."""
    cell_id = f"probe{uuid.uuid4().hex[:8]}"
    base = create_base(engine.client, "busybox", "busybox", cell_id)
    dockerfile = f"FROM {base}\nCOPY x.txt /x.txt\nARG FLAVOUR\nRUN echo $FLAVOUR > /f\n"
    try:
        explanation, _ = _explain(
            engine,
            tmp_path,
            cell_id,
            {
                "compose": (
                    f"buildargs={json.dumps({'FLAVOUR': 'mild'})}",
                    _request_context(dockerfile, "dev"),
                ),
                "cli": (
                    f"buildargs={json.dumps({'FLAVOUR': 'spicy'})}",
                    _request_context(dockerfile),
                ),
            },
            step=4,
        )
    finally:
        remove_cell_artifacts(engine.client, cell_id)
    cause = explanation.cause
    assert cause is not None and cause.status == "proven", cause
    assert [(e.difference.path, e.difference.field, e.cause) for e in explanation.entries] == [
        ("x.txt", "uname", "not-a-cause"),
        ("", "query:buildargs", "proven"),
    ]
    assert [(d.compose, d.cli) for d in cause.minimal] == [
        ('{"FLAVOUR": "mild"}', '{"FLAVOUR": "spicy"}')
    ]
    assert "build request: query:buildargs" in explanation.summary[-1]


def test_cache_from_naming_a_missing_image_is_a_lookup_miss_proven_by_replaying_it(
    engine: Engine, tmp_path: Path
) -> None:
    """The second client asks for ``cachefrom`` a missing image: the engine then uses no cache
    at all and makes a new image of the same cache entry. The control replay of the first
    request gets the newer of the two equal images (the second's), which still counts as the
    first's entry; replaying the second's ``cachefrom`` alone reproduces the miss."""
    cell_id = f"probe{uuid.uuid4().hex[:8]}"
    base = create_base(engine.client, "busybox", "busybox", cell_id)
    dockerfile = f"FROM {base}\nCOPY x.txt /x.txt\n"
    context = _request_context(dockerfile)
    try:
        explanation, images = _explain(
            engine,
            tmp_path,
            cell_id,
            {
                "compose": ("", context),
                "cli": (f"cachefrom={json.dumps(['cache-bisect/missing:' + cell_id])}", context),
            },
            step=2,
        )
    finally:
        remove_cell_artifacts(engine.client, cell_id)
    assert images[0] != images[1]  # the second build missed, though the contexts are equal
    cause = explanation.cause
    assert cause is not None and cause.status == "proven", cause
    assert cause.probes[0].image == images[1]  # the control: the newer image of the entry
    assert [(e.difference.path, e.difference.field, e.cause) for e in explanation.entries] == [
        ("", "query:cachefrom", "proven")
    ]


def test_an_xattr_only_one_client_sent_is_a_proven_cause(engine: Engine, tmp_path: Path) -> None:
    """A capability xattr (setcap) sent by one client only: the legacy cache key hashes
    xattrs, so the step misses; applying the record alone makes it hit, the owner name does
    not matter. The contexts are made here, as each client would send them."""
    cell_id = f"probe{uuid.uuid4().hex[:8]}"
    base = create_base(engine.client, "busybox", "busybox", cell_id)
    dockerfile = f"FROM {base}\nCOPY ping /ping\n"
    capability = b"\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"

    def context(uname: str, records: dict[str, str]) -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
            for name, data in (("Dockerfile", dockerfile.encode()), ("ping", b"ping\n")):
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(data), 0o755
                if name == "ping":
                    info.uname, info.pax_headers = uname, records
                archive.addfile(info, io.BytesIO(data))
        return buffer.getvalue()

    compose = context("dev", {})
    cli = context(
        "", {"SCHILY.xattr.security.capability": capability.decode("utf-8", "surrogateescape")}
    )

    try:
        first = _step_image(engine, cell_id, compose, "", 2)
        second = _step_image(engine, cell_id, cli, "", 2)
        assert first != second  # the xattr alone (uname aside) makes the step miss
        _capture(tmp_path / "compose", "", compose)
        _capture(tmp_path / "cli", "", cli)
        diverged = StepComparison(2, "COPY ping /ping", first, second, False, False)
        experiment = Experiment(engine, cell_id, "compose", 2, diverged, timeout=120)
        explanation = explain(
            tmp_path / "compose", tmp_path / "cli", diverged.instruction, experiment, log=print
        )
    finally:
        remove_cell_artifacts(engine.client, cell_id)
    cause = explanation.cause
    assert cause is not None and cause.status == "proven", cause
    assert [(e.difference.path, e.difference.field, e.cause) for e in explanation.entries] == [
        ("ping", "uname", "not-a-cause"),
        ("ping", "xattr:security.capability", "proven"),
    ]
    assert [d.cli for d in cause.minimal] == ["hex:" + capability.hex()]


def test_a_compose_v2_legacy_cell_is_explained_past_compose_s_own_label_step(
    runner: CellRunner, engine: Engine
) -> None:
    """Compose 2.x's request carries its builder label, so every replay of it ends with a
    LABEL step the Dockerfile does not have: the probe still reads the Dockerfile's step."""
    cell = runner.run(CellSpec(compose="2.18.1", explain=True)).to_json()
    assert cell["verdict"] == "diverged", cell["reason"]
    cause = check_probes(cell)
    assert cause["status"] == "proven", cause
    print(cause["builds"], [p["applied"] for p in cause["probes"]])
    assert no_images_left(engine, cell)


def test_a_probe_reads_the_dockerfile_s_step_past_the_label_steps_the_request_adds(
    engine: Engine,
) -> None:
    """A request with labels (compose's build.labels, compose 2.x's builder label) gets one
    LABEL step per label after the Dockerfile's: the probe still returns the Dockerfile's
    step, the same cache entry as a build without labels."""
    cell_id = f"probe{uuid.uuid4().hex[:8]}"
    base = create_base(engine.client, "busybox", "busybox", cell_id)
    context = _request_context(f"FROM {base}\nCOPY x.txt /x.txt\nLABEL mine=yes\n")
    labels = json.dumps({"com.docker.compose.image.builder": "classic", "org.example.team": "a"})
    try:
        plain = _step_image(engine, cell_id, context, "", 3)
        labelled = _step_image(engine, cell_id, context, f"labels={labels}", 3)
        final = engine.client.images.list(all=True, filters=cell_filter(cell_id))
    finally:
        remove_cell_artifacts(engine.client, cell_id)
    assert labelled == plain
    assert len(final) >= 5  # base, COPY, LABEL mine, and the two appended LABEL steps
