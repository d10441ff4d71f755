"""Text from elsewhere (a server, a file) made safe to print on one terminal line."""

from __future__ import annotations

import unicodedata

__all__ = ["printable"]

_SPACES = frozenset("\n\r\t")
# Controls; lone surrogates, which cannot print; format characters, among them the bidi
# overrides (U+202E) that make a terminal show text reordered; line and paragraph separators.
_ESCAPED = frozenset({"Cc", "Cs", "Cf", "Zl", "Zp"})


def _safe(char: str) -> str:
    if char in _SPACES:
        return " "
    if unicodedata.category(char) in _ESCAPED:
        code = ord(char)
        return (
            f"\\x{code:02x}"
            if code < 0x100
            else f"\\u{code:04x}"
            if code < 0x10000
            else f"\\U{code:08x}"
        )
    return char


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with no control characters: a CR, an ESC or a bidi override from a server
    must not rewrite what the terminal shows, and a lone surrogate must not make printing
    raise. With ``keep_newlines`` (a body printed as it is), line breaks and tabs stay."""
    if keep_newlines:
        return "".join(char if char in "\n\t" else _safe(char) for char in text)
    return "".join(_safe(char) for char in text)
