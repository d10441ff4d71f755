"""Text from elsewhere (a server, a file) made safe to print on one terminal line."""

from __future__ import annotations

import unicodedata

__all__ = ["printable"]

_SPACES = frozenset("\n\r\t")


def _safe(char: str) -> str:
    if char in _SPACES:
        return " "
    if unicodedata.category(char) in ("Cc", "Cs"):  # controls; lone surrogates can't print
        return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"
    return char


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with no control characters: a CR or ESC from a server must not rewrite what
    the terminal shows, and a lone surrogate must not make printing raise. With
    ``keep_newlines`` (a body printed as it is), line breaks and tabs stay."""
    if keep_newlines:
        return "".join(char if char in "\n\t" else _safe(char) for char in text)
    return "".join(_safe(char) for char in text)
