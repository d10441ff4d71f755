"""Why a cell diverged: the two build contexts as the clients sent them, diffed field by field
for the files the diverged step reads (captured by ``harness.edges.recorder``), with how the
two build requests differ, and — with an :class:`Experiment` — which of those differences
*cause* the miss, proven by builds.

The experiment replays the first client's captured request with a subset of the differences
(context fields and request parameters alike) set to the second client's values, and checks
whether the diverged step now gets the second client's cache entry: an image of the same
parent with the same compared config (:mod:`harness.core.cacheidentity`), not one exact image
ID, since the engine returns the newest of several equal entries. When both clients' images
are one cache entry, the second client missed on the lookup (``cachefrom`` naming a missing
image, say), and a probe reproduces that when it makes a new image instead of reusing one.
ddmin (:mod:`harness.core.minimise`) picks the subsets. A control replay of the unchanged
request comes first and must reach the first client's cache entry: if it does not, no probe
could be trusted, and the result says whether the rebuilt context differs from the captured
one. Probes derive from the cell's labelled base, so the cell's cleanup removes them; nothing
is kept between cells.
"""

from __future__ import annotations

import contextlib
import tarfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from harness.core import cause as causes
from harness.core.httpcapture import CapturedBuild, contexts_in
from harness.core.hybrid import (
    REQUEST,
    HybridError,
    dockerfile_of,
    engine_stripped,
    hybrid_context,
    hybrid_request,
    probe_headers,
    probe_query,
    request_changes,
    request_differences,
)
from harness.core.minimise import MinimiseResult, minimise
from harness.core.model import (
    CauseStatus,
    ExplainCause,
    ExplainedDifference,
    HybridProbe,
    StepComparison,
)
from harness.core.tardiff import (
    Difference,
    TarEntry,
    diff_entries,
    read_entries,
    sources_filter,
    summarize,
)
from harness.edges.engine import Engine
from harness.edges.hybrid import (
    ProbeError,
    build_step_image,
    cell_images,
    config_reader,
    step_identity,
)

# Extra builds a diverged cell may spend proving its cause, the control build included. The
# seed's four context differences and docker-py's five query parameters need seven; a cell
# needing more is reported over budget.
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

    entries: tuple[ExplainedDifference, ...]
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
    in_context = diff_entries(entries["compose"], entries["cli"], sources_filter(instruction))
    in_request = request_changes(requests["compose"], requests["cli"])
    differences = in_context + in_request
    summary = (
        tuple(summarize(in_context))
        or (f"the files `{instruction}` reads are identical in both contexts",)
    ) + tuple(f"build request{line}" for line in summarize(in_request))  # line: ": field ..."
    if experiment is None:
        return Explanation(tuple(ExplainedDifference(d) for d in differences), summary)
    log(f"explain: proving the cause with at most {experiment.budget} hybrid builds ...")
    stripped = _stripped_everywhere(in_context, requests, entries)
    search = causes.plan(differences, stripped)
    cause, result = _prove(search, requests, experiment)
    labels = causes.labels(search, result)
    annotated = tuple(ExplainedDifference(d, labels[(d.path, d.field)]) for d in differences)
    if result is not None:
        minimal = set(result.minimal)
        in_minimal = tuple(
            d
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
    probes: list[HybridProbe] = []
    others = tuple(request_differences(requests["compose"], requests["cli"]))
    client = experiment.engine.client

    def build(changes: frozenset[causes.Change]) -> str:
        context = hybrid_context(
            first.body, second.body, sorted(c for c in changes if c[0] != REQUEST)
        )
        path, query = hybrid_request(first, second, sorted(f for p, f in changes if p == REQUEST))
        return build_step_image(
            client,
            experiment.engine.host,
            path=path,
            query=probe_query(query),
            headers=probe_headers(first.headers),
            context=context,
            steps=experiment.steps,
            step=experiment.diverged.step,
            cell_id=experiment.cell_id,
            timeout=experiment.timeout,
        )

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

    readers = contextlib.ExitStack()
    try:
        reader = readers.enter_context(
            config_reader(experiment.engine.host, experiment.engine.info.api_version)
        )
        wanted = step_identity(reader, experiment.diverged.second_image)
        # One cache entry on both sides: the second client missed on the lookup, not the key.
        lookup = wanted == step_identity(reader, experiment.diverged.first_image)

        def probe(changes: frozenset[causes.Change]) -> bool:
            applied = tuple(f"{path} {field}".strip() for path, field in sorted(changes))
            before = cell_images(client, experiment.cell_id) if lookup else frozenset()
            try:
                image = build(changes)
            except ProbeError as error:  # a build that fails does not reach the entry: a miss
                probes.append(HybridProbe(applied, None, False, error=str(error)))
                return False
            hit = step_identity(reader, image) == wanted and (not lookup or image not in before)
            probes.append(HybridProbe(applied, image, hit))
            return hit

        control = build(frozenset())
        probes.append(HybridProbe((), control, False, control=True))
        if step_identity(reader, control) != step_identity(reader, experiment.diverged.first_image):
            return outcome(CauseStatus.NOT_TESTED, _unfaithful(first, second, experiment, control))
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
    finally:
        readers.close()
    failed = [p.error for p in probes if p.error]
    if result.status == "not-provable" and failed:  # a build that fails proves nothing
        first_line = failed[0].strip().splitlines()[0]
        reason = f"the context with every difference applied did not build: {first_line}"
        return outcome(CauseStatus.NOT_TESTED, reason)
    return outcome(CauseStatus(result.status), result=result)


def _unfaithful(
    first: CapturedBuild, second: CapturedBuild, experiment: Experiment, control: str
) -> str:
    """Why the control missed: the rebuilt context differs from the captured one (named), or
    it does not and the replayed request reached another cache entry."""
    step = experiment.diverged.step
    rebuilt = hybrid_context(first.body, second.body, [])
    changed = summarize(diff_entries(read_entries(first.body), read_entries(rebuilt)))
    images = f"({control[:19]}, not {experiment.diverged.first_image[:19]})"
    if changed:
        return (
            f"the first client's context, rebuilt as captured, gave step {step} another cache "
            f"entry {images}: a rewritten context is not faithful ({'; '.join(changed)})"
        )
    return (
        f"the first client's request, replayed with a context equal to the captured one in "
        f"every field, gave step {step} another cache entry {images}"
    )
