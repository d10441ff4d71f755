"""Why a cell diverged: the two build contexts as the clients sent them, diffed field by field
for the files the diverged step reads (captured by ``harness.edges.recorder``), and — with an
:class:`Experiment` — which of those differences *cause* the miss, proven by builds.

The experiment rebuilds the first client's captured context with a subset of the differences
set to the second client's values, through the engine's build API with the first client's
own request, and checks whether the diverged step now gets the second client's image
(compared by image ID: "Using cache" may be a hit on an earlier probe's image). ddmin
(:mod:`harness.core.minimise`) picks the subsets. A control build of the unchanged context
comes first: if it does not give the first client's image, the rewrite itself changes the
cache key and no probe could be trusted. Probes derive from the cell's labelled base, so the
cell's cleanup removes them; nothing is kept between cells.
"""

from __future__ import annotations

import tarfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.core import cause as causes
from harness.core.httpcapture import CapturedBuild, contexts_in
from harness.core.hybrid import (
    HybridError,
    dockerfile_of,
    engine_stripped,
    hybrid_context,
    probe_headers,
    probe_query,
    request_differences,
)
from harness.core.minimise import MinimiseResult, minimise
from harness.core.model import CauseStatus, ExplainCause, StepComparison
from harness.core.tardiff import (
    Difference,
    TarEntry,
    diff_entries,
    read_entries,
    sources_filter,
    summarize,
)
from harness.edges.engine import Engine
from harness.edges.hybrid import ProbeError, build_step_image

# Extra builds a diverged cell may spend proving its cause, the control build included. The
# seed's four differences need five; a cell needing more is reported over budget.
EXPLAIN_BUDGET = 16


@dataclass(frozen=True)
class Experiment:
    """What the hybrid builds need: the engine, the cell, and the diverged step as both
    builders left it (``first`` names the builder that ran first)."""

    engine: Engine
    cell_id: str
    first: str
    steps: int
    diverged: StepComparison
    timeout: float
    budget: int = EXPLAIN_BUDGET


@dataclass(frozen=True)
class Explanation:
    """The raw differences (JSON, each with its ``cause`` after an experiment), their
    readable summary, and what the experiment proved (None without one)."""

    entries: tuple[Mapping[str, object], ...]
    summary: tuple[str, ...]
    cause: ExplainCause | None = None


def explain(
    compose_capture: Path,
    cli_capture: Path,
    instruction: str,
    experiment: Experiment | None = None,
    log: Callable[[str], None] = print,
) -> Explanation:
    """The differences, a readable summary and, with ``experiment``, the proven cause; the
    last build request of each capture is the one that built (a client may retry)."""
    compose_builds, cli_builds = contexts_in(compose_capture), contexts_in(cli_capture)
    if not compose_builds or not cli_builds:
        missing = "docker-compose" if not compose_builds else "docker build"
        return Explanation((), (f"no build context was captured from {missing}",))
    requests = {"compose": compose_builds[-1], "cli": cli_builds[-1]}
    entries = {name: read_entries(build.body) for name, build in requests.items()}
    differences = diff_entries(entries["compose"], entries["cli"], sources_filter(instruction))
    summary = tuple(summarize(differences)) or (
        f"the files `{instruction}` reads are identical in both contexts",
    )
    if experiment is None:
        return Explanation(tuple(d.as_json() for d in differences), summary)
    log(f"explain: proving the cause with at most {experiment.budget} hybrid builds ...")
    stripped = _stripped_everywhere(differences, requests, entries)
    search = causes.plan(differences, stripped)
    cause, result = _prove(search, requests, experiment)
    labels = causes.labels(search, result)
    annotated = tuple({**d.as_json(), "cause": labels[(d.path, d.field)]} for d in differences)
    if result is not None:
        minimal = set(result.minimal)
        in_minimal = tuple(
            d.as_json()
            for d in differences
            if (d.path, d.field) in minimal or search.rides_on.get((d.path, d.field)) in minimal
        )
        fields = (
            tuple(str(key) for key in result.proven_groups)
            if result.proven_groups is not None
            else None
        )
        cause = replace(cause, minimal=in_minimal, proven_fields=fields)
    return Explanation(annotated, summary, cause)


def _stripped_everywhere(
    differences: list[Difference],
    requests: Mapping[str, CapturedBuild],
    entries: Mapping[str, Mapping[str, TarEntry]],
) -> set[str]:
    """Paths the engine removes from every context that holds them: they cannot matter."""
    stripped = {
        name: engine_stripped(build.body, dockerfile_of(build)) for name, build in requests.items()
    }
    return {
        d.path
        for d in differences
        if all(d.path not in entries[name] or d.path in stripped[name] for name in requests)
    }


def _prove(
    search: causes.Plan, requests: Mapping[str, CapturedBuild], experiment: Experiment
) -> tuple[ExplainCause, MinimiseResult[causes.Change] | None]:
    """Run the control build, then ddmin; the cause (minimal filled in by the caller)."""
    started = time.monotonic()
    first = requests[experiment.first]
    second = requests["cli" if experiment.first == "compose" else "compose"]
    probes: list[dict[str, Any]] = []
    others = tuple(d.as_json() for d in request_differences(requests["compose"], requests["cli"]))

    def build(changes: frozenset[causes.Change]) -> str:
        context = hybrid_context(first.body, second.body, sorted(changes))
        image = build_step_image(
            experiment.engine.client,
            experiment.engine.host,
            path=first.path,
            query=probe_query(first.query),
            headers=probe_headers(first.headers),
            context=context,
            steps=experiment.steps,
            step=experiment.diverged.step,
            cell_id=experiment.cell_id,
            timeout=experiment.timeout,
        )
        return image

    def probe(changes: frozenset[causes.Change]) -> bool:
        image = build(changes)
        hit = image == experiment.diverged.second_image
        applied = [f"{path} {field}" for path, field in sorted(changes)]
        probes.append({"applied": applied, "image": image, "hit": hit})
        return hit

    def outcome(
        status: CauseStatus,
        reason: str | None = None,
        result: MinimiseResult[causes.Change] | None = None,
    ) -> tuple[ExplainCause, MinimiseResult[causes.Change] | None]:
        cause = ExplainCause(
            status=status,
            builds=len(probes),
            budget=experiment.budget,
            seconds=round(time.monotonic() - started, 3),
            request_differences=others,
            probes=tuple(probes),
            reason=reason,
        )
        return cause, result

    try:
        control = build(frozenset())
        probes.append({"applied": [], "image": control, "hit": False, "control": True})
        if control != experiment.diverged.first_image:
            return outcome(
                CauseStatus.NOT_TESTED,
                f"the first client's context, rebuilt as captured, gave step "
                f"{experiment.diverged.step} another image ({control[:19]}, not "
                f"{experiment.diverged.first_image[:19]}): a rewritten context is not faithful",
            )
        if not search.changes:
            return outcome(CauseStatus.NOT_PROVABLE, "no difference in the context can matter")
        result = minimise(
            search.changes,
            probe,
            group_of=causes.group_of,
            max_probes=max(experiment.budget - 1, 1),
        )
    except (ProbeError, HybridError, tarfile.TarError) as error:
        return outcome(CauseStatus.NOT_TESTED, str(error))
    return outcome(CauseStatus(result.status), result=result)
