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
    first_image = cell["steps"][cell["diverged_at"]["step"] - 1]["first"]["image"]
    second_image = cell["steps"][cell["diverged_at"]["step"] - 1]["second"]["image"]
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
    labels = {(e["path"], e["field"]): e["cause"] for e in cell["explain"]}
    assert labels == {
        ("blah.txt", "uid"): "proven",
        ("blah.txt", "gid"): "proven",
        ("blah.txt", "uname"): "not-a-cause",
        ("blah.txt", "gname"): "not-a-cause",
    }
    assert cell["timings"]["explain"] > 0
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


def test_a_cause_outside_the_context_is_not_provable_and_names_the_request(
    engine: Engine, tmp_path: Path
) -> None:
    """Same files (but an owner name), different build args: every context difference applied
    still misses, and the result names the build args."""
    cell_id = f"probe{uuid.uuid4().hex[:8]}"
    base = create_base(engine.client, "busybox", "busybox", cell_id)
    dockerfile = f"FROM {base}\nCOPY x.txt /x.txt\nARG FLAVOUR\nRUN echo $FLAVOUR > /f\n"

    def context(uname: str) -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            for name, data in (("Dockerfile", dockerfile.encode()), ("x.txt", b"x\n")):
                info = tarfile.TarInfo(name)
                info.size, info.uname = len(data), uname if name == "x.txt" else ""
                archive.addfile(info, io.BytesIO(data))
        return buffer.getvalue()

    def step_image(uname: str, flavour: str) -> str:
        return build_step_image(
            engine.client,
            engine.host,
            path="/v1.41/build",
            query={"buildargs": [json.dumps({"FLAVOUR": flavour})]},
            headers={"content-type": "application/x-tar"},
            context=context(uname),
            steps=4,
            step=4,
            cell_id=cell_id,
            timeout=120,
        )

    try:
        first, second = step_image("dev", "mild"), step_image("", "spicy")
        _capture(
            tmp_path / "compose",
            f"buildargs={quote(json.dumps({'FLAVOUR': 'mild'}))}",
            context("dev"),
        )
        _capture(
            tmp_path / "cli", f"buildargs={quote(json.dumps({'FLAVOUR': 'spicy'}))}", context("")
        )
        diverged = StepComparison(4, "RUN echo $FLAVOUR > /f", first, second, False, False)
        experiment = Experiment(engine, cell_id, "compose", 4, diverged, timeout=120)
        explanation = explain(
            tmp_path / "compose", tmp_path / "cli", diverged.instruction, experiment, log=print
        )
    finally:
        remove_cell_artifacts(engine.client, cell_id)
    cause = explanation.cause
    assert cause is not None and cause.status == "not-provable", cause
    assert cause.builds == 2  # the control, then every difference applied
    assert [p["hit"] for p in cause.probes] == [False, False]
    assert [(e["path"], e["field"], e["cause"]) for e in explanation.entries] == [
        ("x.txt", "uname", "untested")
    ]
    assert {
        "where": "query",
        "name": "buildargs",
        "compose": '{"FLAVOUR": "mild"}',
        "cli": '{"FLAVOUR": "spicy"}',
    } in cause.request_differences


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

    def step_image(body: bytes) -> str:
        return build_step_image(
            engine.client,
            engine.host,
            path="/v1.41/build",
            query={},
            headers={"content-type": "application/x-tar"},
            context=body,
            steps=2,
            step=2,
            cell_id=cell_id,
            timeout=120,
        )

    try:
        first, second = step_image(compose), step_image(cli)
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
    assert [(e["path"], e["field"], e["cause"]) for e in explanation.entries] == [
        ("ping", "uname", "not-a-cause"),
        ("ping", "xattr:security.capability", "proven"),
    ]
    assert [e["cli"] for e in cause.minimal] == ["hex:" + capability.hex()]
