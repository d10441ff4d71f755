"""A failing build as a behaviour: the kind of failure, the same in every cell that shows it.

Many upstream fixes are "this used to fail": a bisection must see a deterministic builder
failure as a behaviour of the version, not as an untestable probe. The kind is the builder
and its last error line with what differs between cells (the cell's folder and id, image
ids) replaced, so two releases that fail the same way compare equal. Failures that say
nothing about how a version builds (the engine unreachable, a timeout, compose calling an SDK
function that release does not have) have no kind: they stay skips.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_IMAGE_ID = re.compile(r"\b(sha256:)?[0-9a-f]{12,64}\b")
# The engine or a registry out of reach, or two releases that cannot work together at all
# (compose calling an SDK function that does not exist): nothing about how the version builds.
_NOT_A_BEHAVIOUR = re.compile(
    r"connection (refused|reset|aborted)|ConnectionError|timed out|Read timeout|"
    r"Cannot connect to the Docker daemon|unexpected keyword argument|No module named|"
    r"cannot import name|has no attribute|no such host|dial tcp|failed to do request",
    re.IGNORECASE,
)
_LIMIT = 200
# The failure kind of a build that hung in open() of a fifo in its context until the timeout:
# the program waits for a writer that never comes, however fast the machine (docker-py
# before 2.7.0 opened every member to read it).
FIFO_HANG = "hung opening a fifo of the build context"


def failure_kind(builder: str, line: str, replacements: Mapping[str, str]) -> str | None:
    """``"compose: <error line>"`` with cell-specific text replaced; None when the failure
    is not a behaviour of the versions."""
    text = line.strip()
    if not text or _NOT_A_BEHAVIOUR.search(text):
        return None
    for literal, placeholder in sorted(replacements.items(), key=lambda kv: -len(kv[0])):
        if literal:
            text = text.replace(literal, placeholder)
    text = _IMAGE_ID.sub("<id>", text)
    text = " ".join(text.split())
    if len(text) > _LIMIT:
        text = text[: _LIMIT - 1] + "…"
    return f"{builder}: {text}"


# What a BuildKit RUN step says on an engine started with --bridge=none (as the private one is).
_NO_BRIDGE = "network bridge not found"


def engine_setup_problem(output: str) -> str | None:
    """Why a build failed because of how the engine is set up, not because of the versions
    (None: it did not). The builder's last error line may not say it (compose 1.25 then fails
    reading its iidfile), so the whole output is read."""
    if _NO_BRIDGE in output:
        return (
            "a RUN step needs the engine's default network bridge, which this engine does not "
            "have (--bridge=none), and this build does not ask for network none"
        )
    return None
