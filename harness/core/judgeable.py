"""What the verdict cannot read in a build, listed before the engine starts (pure).

One list serves the early check of a user's project and the cell itself, so a build the
harness cannot judge is refused in one line before any work, never found out mid-run. As
the verdict learns to read more (e.g. several stages), entries leave this list.
"""

from __future__ import annotations

from harness.core.dockerfile import parse_dockerfile


def cannot_judge(dockerfile: str) -> list[str]:
    """Why the verdict cannot judge builds of this Dockerfile source, each a phrase that
    follows "the Dockerfile" (empty: it can). A Dockerfile the builder itself would refuse
    raises DockerfileError."""
    if len(parse_dockerfile(dockerfile).stages) > 1:
        return ["has several stages: multi-stage Dockerfiles are not supported yet (the "
                "verdict reads one image chain)"]  # fmt: skip
    return []
