"""Order numbers: short enough to read out on the phone, and not guessable from another one.

A number is "BK-" and six characters drawn at random (`secrets`) from an alphabet without the
characters people mix up: no 0 or O, no 1, I or L, no U (read as V). 30 characters to the power
of 6 is some 729 million numbers: a shop with a million orders draws a taken one once in about
730 tries, and the ledger then draws again (`Transitions.ensure`).
"""

from __future__ import annotations

import re
import secrets

PREFIX = "BK-"
ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 6
# The longest number (the `orders.number` column holds up to 16 characters).
MAX_LENGTH = len(PREFIX) + LENGTH
# What people put between or around the characters as they type one: spaces, dashes, dots.
SEPARATORS = re.compile("[\\s\\-\u2010-\u2015.\u00b7_/]+")
TYPED = re.compile(rf"(?:BK)?([{ALPHABET}]{{{LENGTH}}})")


def new_number() -> str:
    """A fresh random order number, such as "BK-7Q4M2X" (it may be taken: the ledger checks)."""
    return PREFIX + "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalise(typed: str) -> str | None:
    """The order number someone typed, as the ledger writes it: "bk 7q4m2x", "BK7Q4M2X",
    "7Q4M-2X" all read as "BK-7Q4M2X"; None when it cannot be one. The alphabet has no look-alikes
    to confuse (no 0, O, 1, I, L or U), so a text with one of them is no number at all."""
    if len(typed) > 4 * MAX_LENGTH:
        return None  # a paragraph, not a number
    found = TYPED.fullmatch(SEPARATORS.sub("", typed.upper()))
    return PREFIX + found[1] if found else None
