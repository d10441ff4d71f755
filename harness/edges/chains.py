"""Reading the engine's own record of a build: the image behind each Dockerfile step."""

from __future__ import annotations

import time
from collections.abc import Sequence

import docker
import docker.errors

from harness.core.dockerfile import Instruction
from harness.core.errors import RemoteError
from harness.core.labels import CELL, cell_filter


class ChainError(RemoteError):
    """The engine's image chain is not what a legacy build leaves behind."""


def image_chain(client: docker.DockerClient, final: str, steps: int) -> list[str]:
    """The image IDs of steps 1..``steps``, walking Parent links back from the final image."""
    chain = [client.images.get(final).id]
    while len(chain) < steps:
        parent = client.api.inspect_image(chain[-1]).get("Parent") or ""
        if not parent:
            raise ChainError(
                f"image {chain[-1][:19]} has no parent after {len(chain)} of {steps} steps"
            )
        chain.append(parent)
    chain.reverse()
    return chain


def step_images(
    client: docker.DockerClient, instructions: Sequence[Instruction], logged: Sequence[str | None]
) -> list[str]:
    """The full image ID of each Dockerfile step the log names (``None``: an ARG before the
    first FROM), corroborated by the engine's records: each image exists, and every step
    after a stage's FROM is a child of the step before it."""
    images: list[str] = []
    previous = ""
    for instruction, short in zip(instructions, logged, strict=True):
        if short is None:
            continue
        try:
            record = client.api.inspect_image(short)
        except docker.errors.ImageNotFound:
            raise ChainError(
                f"step {instruction.step}: the log's image {short} does not exist"
            ) from None
        if instruction.keyword != "FROM" and (record.get("Parent") or "") != previous:
            raise ChainError(
                f"step {instruction.step}: the log's image {short} is not a child of step "
                f"{instruction.step - 1}'s image {previous[7:19]}"
            )
        previous = str(record["Id"])
        images.append(previous)
    return images


def ancestor(client: docker.DockerClient, image: str, generations: int) -> str:
    """The image ``generations`` Parent links above ``image`` (itself for 0)."""
    current = client.images.get(image).id
    for _ in range(generations):
        parent = client.api.inspect_image(current).get("Parent") or ""
        if not parent:
            raise ChainError(f"image {current[:19]} has no parent")
        current = parent
    return str(current)


# docker-compose 2.x with the classic builder appends this LABEL: an image step that is not in
# the Dockerfile, so the Dockerfile's own steps end at its parent.
COMPOSE_BUILDER_LABEL = "com.docker.compose.image.builder"


def dockerfile_image(client: docker.DockerClient, final: str) -> tuple[str, str | None]:
    """The image of the Dockerfile's last step, and the step compose added after it (if any)."""
    image = client.images.get(final).id
    newest = client.api.history(image)[0].get("CreatedBy", "")
    if COMPOSE_BUILDER_LABEL not in newest:
        return image, None
    parent = client.api.inspect_image(image).get("Parent") or ""
    if not parent:
        raise ChainError(f"image {image[:19]} has compose's LABEL step but no parent")
    return parent, " ".join(newest.replace("/bin/sh -c #(nop)", "").split())


def compose_image(client: docker.DockerClient, name: str, cell_id: str) -> str:
    """The image docker-compose built for the service under the cell's own ``name``."""
    try:
        found = client.images.get(name)
    except docker.errors.ImageNotFound:
        found = None
    if found is None or found.labels.get(CELL) != cell_id:
        raise ChainError(f"docker-compose reported success but no image {name} of this cell exists")
    return str(found.id)


def remove_cell_artifacts(
    client: docker.DockerClient, cell_id: str, settle_seconds: float = 0
) -> int:
    """Delete the containers and images labelled with this cell, and nothing else.

    With ``settle_seconds``, keep sweeping until nothing new has appeared for a second (or the
    time is up): after an interruption the engine may still finish a request we abandoned.
    """
    removed = _sweep(client, cell_id)
    deadline = time.monotonic() + settle_seconds
    quiet_since = time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - quiet_since < 1.0:
        time.sleep(0.25)
        swept = _sweep(client, cell_id)
        if swept:
            removed += swept
            quiet_since = time.monotonic()
    return removed


def _sweep(client: docker.DockerClient, cell_id: str) -> int:
    return remove_labelled(client, cell_filter(cell_id))


# Every name the harness gives an image: per-cell bases, the CLI's and compose's builds, and
# compose 1.x's project_service names of older harness versions.
HARNESS_NAMES = ("cache-bisect/", "cachebisect")


def remove_labelled(client: docker.DockerClient, filters: dict[str, str]) -> int:
    """Remove what carries a label, in passes until nothing more goes; removals that race with
    the engine (gone, in progress) are left to the next pass.

    An image that also holds a name the harness did not give (someone tagged it) is kept, with
    only the harness's names taken off it: a cleanup never deletes what a user named.
    """
    removed = 0
    for container in client.containers.list(all=True, filters=filters):
        try:
            container.remove(force=True)
            removed += 1
        except docker.errors.APIError:
            continue
    kept: set[str] = set()
    for _ in range(50):  # children first: again while a pass removes something
        images = [i for i in client.images.list(all=True, filters=filters) if i.id not in kept]
        progress = False
        for image in images:
            foreign = [tag for tag in image.tags if not tag.startswith(HARNESS_NAMES)]
            try:
                if foreign:
                    for tag in set(image.tags) - set(foreign):
                        client.images.remove(tag)
                    kept.add(image.id)
                else:
                    client.images.remove(image.id, force=True)
                    removed += 1
                progress = True
            except docker.errors.APIError:
                continue
        if not progress:
            break
    return removed
