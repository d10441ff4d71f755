"""One probe build: a (hybrid) context sent to the engine's build API as a client sent it.

The request replays the captured one — the same API version path, query parameters
(buildargs, dockerfile, labels, ...) and headers — with the tag dropped and intermediate
containers removed, so only the context (and the request parameters explain chose to change)
differs from what the client asked for. The step's image is the one the engine's own log
names after ``Step k/N`` (as the cell's verdict reads it), checked against the engine's
records: LABEL steps the engine appends for the request's ``labels`` (compose's own, 1.x and
2.x) come after the Dockerfile's steps and do not shift them, and a multi-stage Dockerfile's
step is found in its stage. Every image a probe leaves derives from the cell's labelled base,
so it carries the cell's label and the cell's cleanup removes it; a probe image without any
cell's label is removed at once.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

import docker
import docker.errors
import httpx

from harness.core.buildlog import parse_build_log
from harness.core.cacheidentity import cache_identity, config_api_version
from harness.core.errors import RemoteError
from harness.core.labels import CELL, cell_filter
from harness.edges.recorder import unix_socket_path

_BUILT = re.compile(r"Successfully built ([0-9a-f]{12,64})")


class ProbeError(RemoteError):
    """The probe build failed or left no image chain we can read."""


def build_step_image(
    client: docker.DockerClient,
    host: str,
    *,
    path: str,
    query: Mapping[str, list[str]],
    headers: Mapping[str, str],
    context: bytes,
    steps: int,
    step: int,
    cell_id: str,
    timeout: float,
) -> str:
    """Build ``context`` with the request's ``path``, ``query`` and ``headers``; return the
    image ID of ``step`` (as the legacy builder numbers it) of the ``steps``-step Dockerfile."""
    final, log = _build(host, path, query, headers, context, timeout)
    events = parse_build_log(log)
    if events and events[0].total < steps:
        raise ProbeError(f"probe build ran {events[0].total} steps, the Dockerfile has {steps}")
    short = next((event.image for event in events if event.step == step), None)
    try:
        inspected = client.api.inspect_image(final)
        labels = inspected.get("Config", {}).get("Labels") or {}
        if labels.get(CELL) != cell_id:
            if CELL not in labels and not inspected.get("RepoTags"):
                # an untagged image no cell's cleanup would find: the probe's own, removed
                # now; never by force (an image in use or a parent is someone's)
                with contextlib.suppress(docker.errors.APIError):
                    client.images.remove(final)
            raise ProbeError(f"probe image {final[:19]} does not carry the cell label")
        if short is None:
            raise ProbeError(f"the probe's log names no image for step {step}")
        image = client.api.inspect_image(short)
    except docker.errors.DockerException as error:
        raise ProbeError(f"probe step {step}: {error}") from None
    if (image.get("Config", {}).get("Labels") or {}).get(CELL) != cell_id:
        raise ProbeError(f"probe step {step}'s image {short} does not carry the cell label")
    return str(image["Id"])


def config_reader(host: str, engine_api: str) -> docker.APIClient:
    """A client for :func:`step_identity`: it speaks the newest API version that still
    reports the config the legacy builder's cache compares (API 1.45 stopped reporting it)."""
    try:
        return docker.APIClient(base_url=host, version=config_api_version(engine_api))
    except docker.errors.DockerException as error:
        raise ProbeError(f"connect to read image configs: {error}") from None


def step_identity(reader: docker.APIClient, image: str) -> str:
    """The cache identity of a step's image (see :mod:`harness.core.cacheidentity`), read
    with a :func:`config_reader`. An engine that reports no compared config is an error: with
    the parent alone, every image of one parent would look like one cache entry."""
    try:
        inspected = reader.inspect_image(image)
    except docker.errors.DockerException as error:
        raise ProbeError(f"inspect {image[:19]}: {error}") from None
    if "ContainerConfig" not in inspected:
        raise ProbeError(
            f"the engine reports no container config for {image[:19]} (API "
            f"{reader.api_version}): the cache entry the legacy builder compares cannot be read"
        )
    return cache_identity(inspected.get("Parent") or "", inspected["ContainerConfig"])


def cell_images(client: docker.DockerClient, cell_id: str) -> frozenset[str]:
    """Every image carrying the cell's label, intermediate ones included."""
    try:
        return frozenset(
            image.id for image in client.images.list(all=True, filters=cell_filter(cell_id))
        )
    except docker.errors.DockerException as error:
        raise ProbeError(f"list the cell's images: {error}") from None


def _build(
    host: str,
    path: str,
    query: Mapping[str, list[str]],
    headers: Mapping[str, str],
    context: bytes,
    timeout: float,
) -> tuple[str, str]:
    """POST the build; the final image's ID and the build's log, from the progress stream."""
    transport = httpx.HTTPTransport(uds=unix_socket_path(host))
    params = httpx.QueryParams({name: list(values) for name, values in query.items()})
    final: str | None = None
    log: list[str] = []
    try:
        with (
            httpx.Client(transport=transport, base_url="http://docker", timeout=timeout) as http,
            http.stream(
                "POST", urlsplit(path).path, params=params, headers=dict(headers), content=context
            ) as response,
        ):
            if response.status_code >= 400:
                response.read()
                raise ProbeError(f"probe build refused ({response.status_code}): {response.text}")
            for line in response.iter_lines():
                if not line.strip():
                    continue
                try:
                    message = json.loads(line)
                except ValueError:
                    raise ProbeError(f"probe build: not a progress message: {line[:200]}") from None
                if not isinstance(message, dict):
                    continue
                if "error" in message:
                    raise ProbeError(f"probe build failed: {message['error']}")
                aux = message.get("aux")
                if isinstance(aux, dict) and isinstance(aux.get("ID"), str):
                    final = aux["ID"]
                stream = str(message.get("stream", ""))
                log.append(stream)
                built = _BUILT.search(stream)
                if built and final is None:
                    final = built.group(1)
    except httpx.HTTPError as error:
        raise ProbeError(f"probe build: {error}") from None
    if final is None:
        raise ProbeError("probe build reported no image")
    return final, "".join(log)
