"""Pure bisection core: find where a version's behaviour first changes.

No I/O here. The driver maps indices 0..n-1 to versions and supplies a ``Probe`` that
builds, compares and classifies; this module only decides *which* index to probe next
and what the observations prove. Modelled on cargo-bisect-rustc's ``least_satisfying``
(pure core, property-tested) with ``git bisect skip`` semantics for untestable versions.

Guarantee: whatever the probe answers, the search makes at most ``probe_budget(n)``
non-skip probes (ends included) and never probes an index twice. Each interior probe is
taken at the median of the still-untested candidates, or as close to it as skips allow,
so every conclusive probe at least halves the untested candidates.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "BisectResult",
    "Kind",
    "Observation",
    "Probe",
    "Status",
    "bisect",
    "classify_repeats",
    "probe_budget",
]


class Kind(StrEnum):
    """What a probe of one candidate produced."""

    VERDICT = "verdict"  # classified; ``verdict`` holds the behaviour
    SKIP = "skip"  # could not be tested (uninstallable, error, timeout)
    FLAKY = "flaky"  # repeated runs disagreed


@dataclass(frozen=True, slots=True)
class Observation:
    """One candidate's outcome, possibly condensed from several runs.

    ``agreeing``/``runs`` keep the evidence so a report can print "2/3". For FLAKY,
    ``verdict`` is the most common outcome, which is ``None`` when most runs could not
    be tested.
    """

    kind: Kind
    verdict: Hashable | None = None
    agreeing: int = 1
    runs: int = 1

    def __post_init__(self) -> None:
        hash(self.verdict)  # fail here, not deep inside the search, on unhashable verdicts
        if not 1 <= self.agreeing <= self.runs:
            raise ValueError(f"need 1 <= agreeing <= runs, got {self.agreeing}/{self.runs}")
        if self.kind is Kind.VERDICT and self.verdict is None:
            raise ValueError("a VERDICT observation needs a verdict")
        if self.kind is Kind.SKIP and self.verdict is not None:
            raise ValueError("a SKIP observation carries no verdict")
        if self.kind is Kind.FLAKY:
            if self.agreeing == self.runs:
                raise ValueError("a FLAKY observation needs runs that disagree")
        elif self.agreeing != self.runs:
            raise ValueError(f"a {self.kind} observation needs all runs to agree")

    @classmethod
    def of(cls, verdict: Hashable, runs: int = 1) -> Observation:
        """A classified outcome that all ``runs`` agreed on."""
        return cls(Kind.VERDICT, verdict, runs, runs)

    @classmethod
    def skipped(cls, runs: int = 1) -> Observation:
        """An outcome that could not be tested in any of ``runs``."""
        return cls(Kind.SKIP, None, runs, runs)

    @classmethod
    def flaky(cls, majority: Hashable | None, agreeing: int, runs: int) -> Observation:
        """Runs disagreed; ``agreeing`` of ``runs`` produced ``majority``."""
        return cls(Kind.FLAKY, majority, agreeing, runs)

    @property
    def agreement(self) -> str:
        """Share of runs behind ``verdict``, e.g. ``"2/3"``."""
        return f"{self.agreeing}/{self.runs}"

    def __str__(self) -> str:
        if self.kind is Kind.VERDICT:
            return str(self.verdict)
        if self.kind is Kind.SKIP:
            return "skip"
        majority = "untestable" if self.verdict is None else self.verdict
        return f"flaky ({majority} {self.agreement})"


Probe = Callable[[int], Observation]
"""Tests the candidate at an index. Exceptions propagate to ``bisect``'s caller."""


class Status(StrEnum):
    """How a bisection ended."""

    FOUND = "found"  # adjacent tested pair: last_old behaves like old, first_new does not
    NO_CHANGE = "no-change"  # both ends agree
    AMBIGUOUS = "ambiguous"  # skips hide the boundary; it is one of ``candidates``
    FLAKY = "flaky"  # an interior probe was flaky; search stopped there
    ERROR = "error"  # an end could not be classified


@dataclass(frozen=True, slots=True)
class BisectResult:
    """Outcome of ``bisect``; ``probes`` lists every (index, observation) in probe order.

    ``last_old``/``first_new`` are the tightest tested bounds (old at ``last_old``, not old
    at ``first_new``). ``candidates`` are the indices that may hold the first new
    behaviour: just ``first_new`` when found, ``last_old+1 .. first_new`` when
    ambiguous or flaky, empty otherwise.
    """

    status: Status
    old_verdict: Hashable | None
    new_verdict: Hashable | None
    last_old: int | None = None
    first_new: int | None = None
    candidates: tuple[int, ...] = ()
    flaky: int | None = None
    reason: str | None = None
    probes: tuple[tuple[int, Observation], ...] = ()

    @property
    def conclusive_probes(self) -> int:
        """Probes that yielded a verdict or a flaky result, i.e. counted against the budget."""
        return sum(1 for _, observation in self.probes if observation.kind is not Kind.SKIP)


def probe_budget(n: int) -> int:
    """Most non-skip probes ``bisect`` makes for ``n`` candidates: ceil(log2 n) + 2."""
    if n < 1:
        raise ValueError(f"need at least one candidate, got {n}")
    return (n - 1).bit_length() + 2


def classify_repeats(verdicts: Sequence[Hashable | None]) -> Observation:
    """Condense repeated runs of one candidate into one observation.

    ``None`` stands for a run that could not be tested. Rule: identical outcomes give
    VERDICT (or SKIP when all are ``None``); anything mixed is FLAKY, including a mix of
    untestable and tested runs, because a candidate that only sometimes builds is not
    evidence we want to bisect across. The FLAKY observation carries the most common
    outcome (``None`` counts as an outcome; ties go to the earliest) and its count.
    """
    if not verdicts:
        raise ValueError("need at least one run")
    counts = Counter(verdicts)
    majority, agreeing = max(counts.items(), key=lambda item: item[1])
    runs = len(verdicts)
    if agreeing < runs:
        return Observation.flaky(majority, agreeing, runs)
    if majority is None:
        return Observation.skipped(runs)
    return Observation.of(majority, runs)


class _Prober:
    """Memoising wrapper around the probe that also records the probe order."""

    def __init__(self, probe: Probe) -> None:
        self._probe = probe
        self.seen: dict[int, Observation] = {}

    def __call__(self, index: int) -> Observation:
        if index in self.seen:
            return self.seen[index]
        observation = self._probe(index)
        if not isinstance(observation, Observation):
            raise TypeError(f"probe({index}) returned {observation!r}, not an Observation")
        self.seen[index] = observation
        return observation

    def record(self) -> tuple[tuple[int, Observation], ...]:
        return tuple(self.seen.items())


def _median_outward(untested: Sequence[int]) -> Iterator[int]:
    """Yield the lower median, then alternate right/left by rank, like ``git bisect skip``.

    Walking by rank (not by index distance) keeps the probed window contiguous around the
    median, which is what makes each conclusive probe halve the untested candidates.
    """
    middle = (len(untested) - 1) // 2
    yield untested[middle]
    for step in range(1, len(untested)):
        for rank in (middle + step, middle - step):
            if 0 <= rank < len(untested):
                yield untested[rank]


def _end_problems(n: int, prober: _Prober) -> list[str]:
    """Describe each end that did not yield a verdict; the ends are already probed."""
    ends = {"lower end": 0, "upper end": n - 1} if n > 1 else {"only candidate": 0}
    return [
        f"{label} (index {index}) could not be classified: {prober.seen[index]}"
        for label, index in ends.items()
        if prober.seen[index].kind is not Kind.VERDICT
    ]


def bisect(n: int, probe: Probe) -> BisectResult:
    """Find the adjacent pair where behaviour departs from index 0's.

    Both ends are probed first. A probe whose verdict equals the verdict at index 0 is
    "old", any other verdict is "new". For a non-monotone sequence the result is still
    a genuine adjacent old/new pair, just not necessarily the only one.
    """
    if n < 1:
        raise ValueError(f"need at least one candidate, got {n}")
    prober = _Prober(probe)
    lo_obs, hi_obs = prober(0), prober(n - 1)
    old = lo_obs.verdict if lo_obs.kind is Kind.VERDICT else None
    end_verdict = hi_obs.verdict if hi_obs.kind is Kind.VERDICT else None

    if problems := _end_problems(n, prober):
        return BisectResult(
            Status.ERROR, old, end_verdict, reason="; ".join(problems), probes=prober.record()
        )
    if old == end_verdict:
        return BisectResult(
            Status.NO_CHANGE,
            old,
            end_verdict,
            reason=f"both ends behave the same: {old}",
            probes=prober.record(),
        )

    last_old, first_new = 0, n - 1
    while untested := [i for i in range(last_old + 1, first_new) if i not in prober.seen]:
        for index in _median_outward(untested):
            observation = prober(index)
            if observation.kind is Kind.SKIP:
                continue
            if observation.kind is Kind.FLAKY:
                return BisectResult(
                    Status.FLAKY,
                    old,
                    prober.seen[first_new].verdict,
                    last_old,
                    first_new,
                    tuple(range(last_old + 1, first_new + 1)),
                    flaky=index,
                    reason=(
                        f"index {index} was {observation}; the first new behaviour lies in "
                        f"{last_old + 1}..{first_new}"
                    ),
                    probes=prober.record(),
                )
            if observation.verdict == old:
                last_old = index
            else:
                first_new = index
            break
        else:
            break  # every untested candidate in the open interval was skipped

    new = prober.seen[first_new].verdict
    if first_new == last_old + 1:
        return BisectResult(
            Status.FOUND, old, new, last_old, first_new, (first_new,), probes=prober.record()
        )
    return BisectResult(
        Status.AMBIGUOUS,
        old,
        new,
        last_old,
        first_new,
        tuple(range(last_old + 1, first_new + 1)),
        reason=(
            f"every candidate strictly between {last_old} and {first_new} was skipped; "
            f"the first new behaviour lies in {last_old + 1}..{first_new}"
        ),
        probes=prober.record(),
    )
