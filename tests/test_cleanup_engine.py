"""A cleanup never deletes an image someone named (issue 25): only the harness's names go."""

from __future__ import annotations

import os

import pytest

from harness.core.labels import RUN, cell_labels, run_label
from harness.edges.baseimage import busybox_rootfs, find_static_busybox
from harness.edges.chains import remove_labelled
from harness.edges.engine import Engine

pytestmark = pytest.mark.engine


def test_cleanup_keeps_an_image_someone_named_and_takes_only_our_names(engine: Engine) -> None:
    dead = run_label(os.uname().nodename, 2**22 + 1, "1")
    repository, tag = "cache-bisect/base", f"kept{os.getpid()}"
    changes = [f'LABEL {k}="{v}"' for k, v in cell_labels(f"kept{os.getpid()}", dead).items()]
    engine.client.api.import_image_from_data(
        busybox_rootfs(find_static_busybox()), repository=repository, tag=tag, changes=changes
    )
    users_name = f"someone/tagged:{os.getpid()}"
    engine.client.api.tag(f"{repository}:{tag}", *users_name.split(":"))
    try:
        assert remove_labelled(engine.client, {"label": f"{RUN}={dead}"}) == 0
        kept = engine.client.images.get(users_name)
        assert kept.tags == [users_name]  # the harness's own name is gone, the user's stays
    finally:
        engine.client.images.remove(users_name, force=True)
