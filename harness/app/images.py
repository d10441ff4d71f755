"""The external images a cell's Dockerfile needs, checked in the engine before any install.

A user's project may start from an image they built themselves: an engine that lacks it
(the harness's private one, say) would pull it mid-cell, after minutes of installing, and
report the registry's refusal as the cell's outcome. Asking the engine first turns that into
one line naming the way out, before anything is installed or built.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.core.dockerfile import copied_images, external_stages, parse_dockerfile
from harness.core.scenarios import Scenario
from harness.edges.context import read_service_build
from harness.edges.engine import Engine
from harness.present.words import engine_phrase, will_be_pulled


def needed_images(scenario: Scenario) -> tuple[str, ...]:
    """The images the scenario's stages start from (build args expanded as the builder
    does) or copy from, once each; none for a fixture on the offline busybox base."""
    if scenario.base == "busybox":
        return ()
    build = read_service_build(scenario)
    dockerfile = (scenario.fixture_dir() / scenario.dockerfile).read_bytes().decode()
    parsed = parse_dockerfile(dockerfile)
    images = [parsed.base_of(stage, build.args) for stage in external_stages(parsed, build.args)]
    return tuple(dict.fromkeys([*images, *copied_images(parsed, build.target)]))


def check_images(engine: Engine, scenario: Scenario, log: Callable[[str], None]) -> None:
    """Each needed image is in ``engine`` or its registry has it (said: the cell pulls it);
    otherwise a BaseImageError naming DOCKER_HOST / --engine as the way out."""
    # Imported here: with the docker SDK it loads, and a fully stored rerun asks no engine.
    from harness.edges.baseimage import in_engine_or_pullable

    where = engine_phrase(engine.info, engine.host)
    for image in needed_images(scenario):
        if not in_engine_or_pullable(engine.client, image, where):
            log(will_be_pulled(image, where))
