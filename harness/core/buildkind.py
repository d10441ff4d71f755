"""Which builder each side of a cell builds with: a value parsed from, and printed to, text
only where text comes in or goes out (argv, matrix.toml, stored JSON).

The text form is ``legacy``, ``buildkit``, or per side ``compose=buildkit,cli=legacy`` (a side
not named is legacy); one canonical spelling keeps store keys, cell ids and exclusions stable.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from harness.core.errors import UserError


class Builder(StrEnum):
    LEGACY = "legacy"
    BUILDKIT = "buildkit"
    DEFAULT = "default"  # not told (no DOCKER_BUILDKIT): the tool's own default, as typed


class Side(StrEnum):
    COMPOSE = "compose"
    CLI = "cli"


@dataclass(frozen=True, order=True)
class Builders:
    """The builder of the compose build and of the reference CLI build."""

    compose: Builder = Builder.LEGACY
    cli: Builder = Builder.LEGACY

    @classmethod
    def parse(cls, text: str) -> Builders:
        """The builders ``text`` names; a UserError names what is valid."""
        text = text.strip()
        if text in tuple(Builder):
            return cls(Builder(text), Builder(text))
        chosen = dict.fromkeys(Side, Builder.LEGACY)
        seen: set[str] = set()
        for part in text.split(","):
            side, equals, value = (piece.strip() for piece in part.partition("="))
            if not equals or side not in tuple(Side) or value not in tuple(Builder) or side in seen:
                raise UserError(
                    f"builder {text!r} is not {' or '.join(Builder)}, or per side like "
                    f"compose=buildkit,cli=legacy (sides: {', '.join(Side)})"
                )
            seen.add(side)
            chosen[Side(side)] = Builder(value)
        return cls(chosen[Side.COMPOSE], chosen[Side.CLI])

    def __str__(self) -> str:
        """The canonical spelling: one word when both sides agree."""
        return self.compose.value if self.same else f"compose={self.compose},cli={self.cli}"

    def of(self, side: Side | str) -> Builder:
        return self.compose if Side(side) is Side.COMPOSE else self.cli

    @property
    def same(self) -> bool:
        return self.compose is self.cli

    @property
    def legacy(self) -> bool:
        """Both sides legacy: the default, and every cell from before the builder axis."""
        return self == LEGACY


LEGACY = Builders()
