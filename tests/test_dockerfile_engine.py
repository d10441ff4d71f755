"""Step numbers checked against the engine: every Dockerfile of tests/dockerfiles/ is built by
the legacy builder, and the ``Step k/N : text`` lines it prints must be exactly the steps the
harness's parser gives (targets too)."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import pytest

from harness.core.dockerfile import parse_dockerfile
from harness.core.labels import cell_filter, cell_labels
from harness.edges.baseimage import busybox_rootfs, find_static_busybox
from harness.edges.builders import find_cli
from harness.edges.chains import remove_labelled
from harness.edges.engine import Engine
from harness.edges.process import run

pytestmark = pytest.mark.engine
CORPUS = Path(__file__).resolve().parent / "dockerfiles"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")

CASES = [(path.name, None) for path in sorted(CORPUS.glob("*.Dockerfile"))] + [
    ("multistage.Dockerfile", "build"),
    ("multistage.Dockerfile", "second"),
]


@pytest.mark.parametrize(("name", "target"), CASES)
def test_steps_are_numbered_as_the_engine_prints_them(
    engine: Engine, tmp_path: Path, name: str, target: str | None
) -> None:
    cell = uuid.uuid4().hex[:12]
    base = f"cache-bisect/corpus:{cell}"  # a name of the harness's: its cleanup removes it
    labels = [f'LABEL {key}="{value}"' for key, value in cell_labels(cell, "test").items()]
    engine.client.api.import_image_from_data(
        busybox_rootfs(find_static_busybox()), repository=base.split(":")[0], tag=cell,
        changes=labels,
    )  # fmt: skip
    source = (CORPUS / name).read_bytes().decode().replace("corpus-base", base)
    (tmp_path / "Dockerfile").write_bytes(source.encode())
    (tmp_path / "a.txt").write_text("a\n")
    env = {"PATH": os.environ["PATH"], "DOCKER_HOST": engine.host, "DOCKER_BUILDKIT": "0"}
    options = ["--target", target] if target else []
    try:
        built = run([find_cli().path, "build", *options, "."], env=env, cwd=tmp_path, timeout=300)
    finally:
        remove_labelled(engine.client, cell_filter(cell))
    assert built.ok, built.output
    printed = [
        match.groups()
        for line in built.output.splitlines()
        if (match := _STEP.match(_ANSI.sub("", line).strip()))
    ]
    steps = parse_dockerfile(source).steps(target)
    ours = [(str(step.step), str(len(steps)), step.text) for step in steps]
    assert printed == ours
