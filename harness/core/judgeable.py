"""What the verdict cannot read in a build, listed before the engine starts (pure).

One list serves the early check of a user's project and the cell itself, so a build the
harness cannot judge is refused in one line before any work, never found out mid-run. As
the verdict learns to read more, entries leave this list: the legacy builder's log names the
image of every step of every stage, so only BuildKit's single-history verdict is left here.
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.core.dockerfile import external_stages, parse_dockerfile


def cannot_judge(
    dockerfile: str,
    *,
    target: str | None = None,
    build_args: Mapping[str, str | None] | None = None,
    legacy: bool = True,
) -> list[str]:
    """Why the verdict cannot judge builds of this Dockerfile source, each a phrase that
    follows "the Dockerfile" (empty: it can). A Dockerfile the builder itself would refuse
    (an unknown target, a blank base name once build args are expanded) raises
    DockerfileError."""
    parsed = parse_dockerfile(dockerfile)
    stages = parsed.built_stages(target)
    externals = external_stages(parsed, build_args or {})
    if legacy:
        return []
    if len(stages) > 1:
        return ["has several stages: with BuildKit the verdict reads one image's history, so "
                "multi-stage builds are judged with the legacy builder only"]  # fmt: skip
    if not externals:
        return ["starts FROM scratch: with BuildKit the verdict needs a base image's history"]
    return []
