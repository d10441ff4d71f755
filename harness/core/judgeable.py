"""What the verdict cannot read in a build, listed before the engine starts (pure).

One list serves the early check of a user's project and the cell itself, so a build the
harness cannot judge is refused in one line before any work, never found out mid-run. As
the verdict learns to read more, entries leave this list: the legacy builder's log names the
image of every step of every stage and BuildKit's names each step's cache status, so what is
left is stages FROM scratch (no base to carry the cell's label).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from harness.core.dockerfile import Dockerfile, Stage, parse_dockerfile


def cannot_judge(
    dockerfile: str,
    *,
    target: str | None = None,
    build_args: Mapping[str, str | None] | None = None,
) -> list[str]:
    """Why the verdict cannot judge builds of this Dockerfile source, each a phrase that
    follows "the Dockerfile" (empty: it can). A Dockerfile the builder itself would refuse
    (an unknown target, a blank base name once build args are expanded) raises
    DockerfileError."""
    parsed = parse_dockerfile(dockerfile)
    stages = parsed.built_stages(target)
    if _from_scratch(parsed, stages, build_args or {}):
        return ["has a stage FROM scratch: its images would carry no label of the cell, which "
                "could then not remove them (not supported yet)"]  # fmt: skip
    return []


def _from_scratch(
    parsed: Dockerfile, stages: Sequence[Stage], build_args: Mapping[str, str | None]
) -> bool:
    """Does a built stage start from scratch, directly or through earlier stages?"""
    for stage in stages:
        base = parsed.base_of(stage, build_args)
        while (earlier := parsed.stage_named(base)) is not None and earlier.index < stage.index:
            stage, base = earlier, parsed.base_of(earlier, build_args)
        if base.lower() == "scratch":
            return True
    return False
