"""Text that strangers typed, made safe to show in a terminal or on a staff screen.

What strangers typed is shown safely everywhere: escaped in HTML, and with control, invisible
and bidirectional characters made visible in a terminal or a staff screen. A name such as
``"\\x1b[31mEvil"`` must not recolour (or clear, or retitle) the shopkeeper's terminal, and a
right-to-left override must not turn ``gpj.exe`` into what looks like ``exe.jpg``.
"""

from __future__ import annotations

import unicodedata

# Controls (C0, DEL, C1), formatting characters (bidirectional embeddings, overrides and
# isolates, zero-width spaces and joiners, the word joiner, the byte order mark, soft hyphens,
# tags), line and paragraph separators, and lone surrogates (which no terminal can print).
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
# Letters and marks that print as nothing at all, a favourite for blank-looking names: the
# combining grapheme joiner, the Hangul fillers, Khmer's inherent vowels.
INVISIBLE_CHARACTERS = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u3164\uffa0")
SHORT_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def visible(text: str) -> str:
    """The text with control, invisible and bidirectional characters shown as escapes."""
    if text.isascii() and text.isprintable():
        return text  # the usual case, at once
    return "".join(_escaped(char) for char in text)


def _escaped(char: str) -> str:
    if char not in INVISIBLE_CHARACTERS and unicodedata.category(char) not in INVISIBLE_CATEGORIES:
        return char
    if char in SHORT_ESCAPES:
        return SHORT_ESCAPES[char]
    point = ord(char)
    if point < 0x100:
        return f"\\x{point:02x}"
    return f"\\u{point:04x}" if point < 0x10000 else f"\\U{point:08x}"
