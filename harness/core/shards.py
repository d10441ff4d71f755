"""Shards: a matrix split over machines (CI runners), and what each shard says it ran.

A shard is a deterministic, balanced subset of the cells; the cells that share a venv (the
same compose release and SDK) stay in one shard, so no venv is installed on two runners.
Each shard run leaves a manifest naming the matrix, the harness and each cell's store key;
merging checks them before combining, so cells of another matrix or harness are refused.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.core.errors import UserError
from harness.core.jsonform import CONVERTER, OMIT_NONE, JsonFormError, from_json, to_json
from harness.core.model import CellResult, CellSpec, ResultFormatError

MANIFEST_SCHEMA = 1
_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True, order=True)
class Shard:
    """Shard ``index`` of ``count``, 1-based as people write it (``--shard 2/3``)."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def file_name(self) -> str:
        return f"shard-{self.index}-of-{self.count}.json"


def parse_shard(text: str) -> Shard:
    """``K/N`` with 1 <= K <= N."""
    match = _SHARD.match(text)
    if not match:
        raise UserError(f"{text!r} is not a shard: write K/N, e.g. 1/2")
    index, count = int(match.group(1)), int(match.group(2))
    if not 1 <= index <= count:
        raise UserError(f"shard {text!r}: K must be from 1 to N ({count})")
    return Shard(index, count)


def venv_group(spec: CellSpec) -> tuple[str, str]:
    """Cells with the same group install the same venv."""
    return (spec.compose, spec.sdk)


def assign_shards(
    cells: Sequence[CellSpec],
    count: int,
    group: Callable[[CellSpec], Hashable] = venv_group,
) -> list[list[CellSpec]]:
    """Split ``cells`` into ``count`` shards (each in matrix order), groups kept whole.

    Largest group first, each to the shard with the fewest cells so far (the lowest-numbered
    on a tie): deterministic, and no shard exceeds another by more than the largest group.
    """
    if count < 1:
        raise ValueError("a matrix needs at least one shard")
    groups: dict[Hashable, list[int]] = {}
    for position, spec in enumerate(cells):
        groups.setdefault(group(spec), []).append(position)
    ordered = sorted(groups.values(), key=lambda members: (-len(members), members[0]))
    sizes = [0] * count
    owner: dict[int, int] = {}
    for members in ordered:
        target = min(range(count), key=lambda shard: (sizes[shard], shard))
        sizes[target] += len(members)
        owner.update((position, target) for position in members)
    shards: list[list[CellSpec]] = [[] for _ in range(count)]
    for position, spec in enumerate(cells):
        shards[owner[position]].append(spec)
    return shards


def shard_cells(cells: Sequence[CellSpec], shard: Shard) -> list[CellSpec]:
    return assign_shards(cells, shard.count)[shard.index - 1]


def matrix_digest(cells: Sequence[CellSpec]) -> str:
    """Names the whole matrix (every cell, in order): shards of one matrix share it."""
    text = json.dumps([asdict(spec) for spec in cells], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class ManifestEntry:
    """One cell of a shard: its id and store key, or (not stored: error, timeout) its result."""

    cell: str
    key: str | None
    result: CellResult | None = field(default=None, metadata=OMIT_NONE)


@dataclass(frozen=True, kw_only=True)
class ShardManifest:
    """What one shard ran: written next to its cells, read back by --merge."""

    schema: int = MANIFEST_SCHEMA
    shard: Shard
    matrix: str
    harness: str
    config: str = "matrix.toml"
    cells: tuple[ManifestEntry, ...]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = to_json(self)
        return data

    @classmethod
    def from_json(cls, data: object) -> ShardManifest:
        if not isinstance(data, Mapping) or data.get("schema") != MANIFEST_SCHEMA:
            raise ResultFormatError(f"expected a JSON object with schema {MANIFEST_SCHEMA}")
        try:
            return from_json(data, cls)
        except JsonFormError as error:
            raise ResultFormatError(str(error)) from None


def _read_shard(text: object, _: type) -> Shard:
    if not isinstance(text, str):
        raise ValueError(f"a shard is written K/N, not {text!r}")
    return parse_shard(text)


CONVERTER.register_unstructure_hook(Shard, str)
CONVERTER.register_structure_hook(Shard, _read_shard)
