"""Text that strangers typed, made safe to show in a terminal or on a staff screen.

What strangers typed is shown safely everywhere: escaped in HTML, and with control, invisible
and bidirectional characters, and combining marks with no letter to sit on, made visible in a
terminal or a staff screen. A name such as ``"\\x1b[31mEvil"`` must not recolour (or clear, or
retitle) the shopkeeper's terminal, a right-to-left override must not turn ``gpj.exe`` into what
looks like ``exe.jpg``, and a name of accents alone must not pass for a blank one or pile onto
the text before it.
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
# Combining marks (nonspacing and enclosing): shown as escapes when they have no letter to sit
# on, at the start, after a space or after a character shown as an escape.
MARKS = frozenset({"Mn", "Me"})
SHORT_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def visible(text: str) -> str:
    """The text with control, invisible and bidirectional characters, and combining marks with
    nothing to sit on, shown as escapes ("e\\u0301" keeps its accent)."""
    if text.isascii() and text.isprintable():
        return text  # the usual case, at once
    shown = []
    bare = True  # nothing yet for a combining mark to sit on
    for char in text:
        category = unicodedata.category(char)
        if (
            char in INVISIBLE_CHARACTERS
            or category in INVISIBLE_CATEGORIES
            or (bare and category in MARKS)
        ):
            shown.append(_escaped(char))
            bare = True
        else:
            shown.append(char)
            bare = category == "Zs"
    return "".join(shown)


def _escaped(char: str) -> str:
    if char in SHORT_ESCAPES:
        return SHORT_ESCAPES[char]
    point = ord(char)
    if point < 0x100:
        return f"\\x{point:02x}"
    return f"\\u{point:04x}" if point < 0x10000 else f"\\U{point:08x}"
