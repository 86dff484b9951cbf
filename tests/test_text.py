"""`visible`: what strangers typed, with control, invisible and bidirectional characters shown."""

from __future__ import annotations

import unicodedata

import pytest

from bookshop.text import visible


@pytest.mark.parametrize(
    "text",
    [
        "Ada Lovelace",
        "Zoë Ørsted-Müller, 12 Rue de l'Église",
        "Σωκράτης Παπαδόπουλος",
        "Фёдор Достоевский",
        "山田 太郎、東京都千代田区1-1",
        "김민준",
        "محمد عبد الله",  # right to left by itself: no control character needed
        "דוד כהן",
        "देवनागरी नमस्ते",  # combining vowel signs stay on their letters
        "สมชาย ใจดี",
        "Straße № 5, 2° piano, 〒100-0001",
        "Zen and the Art of Motorcycle Maintenance: An Inquiry into Values",
        "Book club 📚 ❤",
        "a\u00a0b",  # a no-break space is a space that shows as one
        "",
    ],
)
def test_ordinary_text_in_any_script_is_untouched(text: str) -> None:
    assert visible(text) == text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[31mEvil\x1b[0m", "\\x1b[31mEvil\\x1b[0m"),
        ("\x1b]0;owned\x07", "\\x1b]0;owned\\x07"),  # retitles a terminal
        ("line\nbreak\ttab\rreturn", "line\\nbreak\\ttab\\rreturn"),
        ("nul\x00del\x7fcsi\x9b", "nul\\x00del\\x7fcsi\\x9b"),
        ("gpj\u202eexe.txt", "gpj\\u202eexe.txt"),
        ("\u202a\u202b\u202c\u202d\u202e", "\\u202a\\u202b\\u202c\\u202d\\u202e"),
        ("\u2066\u2067\u2068\u2069", "\\u2066\\u2067\\u2068\\u2069"),
        ("\u200e\u200f", "\\u200e\\u200f"),  # direction marks
        ("a\u200bb\u200cc\u200dd\u2060e\ufeff", "a\\u200bb\\u200cc\\u200dd\\u2060e\\ufeff"),
        ("soft\u00adhyphen", "soft\\xadhyphen"),
        ("line\u2028paragraph\u2029", "line\\u2028paragraph\\u2029"),
        ("tag\U000e0041", "tag\\U000e0041"),
        ("\u3164", "\\u3164"),  # a Hangul filler: a name that looks blank
        ("a\u2028b", "a\\u2028b"),  # a line separator
        ("lone \udc80", "lone \\udc80"),
    ],
)
def test_control_invisible_and_bidirectional_characters_are_made_visible(
    text: str, shown: str
) -> None:
    assert visible(text) == shown


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\u0301\u0301", "\\u0301\\u0301"),  # accents alone: a name that looks blank
        ("\u20ddAda", "\\u20ddAda"),  # an enclosing mark at the start
        ("Ada \u0301Reader", "Ada \\u0301Reader"),  # after a space
        ("Ada\u00a0\u0301", "Ada\u00a0\\u0301"),  # after a no-break space
        ("\u3164\u0301", "\\u3164\\u0301"),  # after a character shown as an escape
        ("\x1b\u0301\u0308", "\\x1b\\u0301\\u0308"),
    ],
)
def test_combining_marks_with_nothing_to_sit_on_are_made_visible(text: str, shown: str) -> None:
    assert visible(text) == shown


@pytest.mark.parametrize(
    "text",
    ["e\u0301", "Jose\u0301", "e\u0301\u0308", "a\u20dd", "\u1e9b\u0323", "\u05e9\u05c1\u05b8"],
)
def test_combining_marks_on_a_letter_stay_on_it(text: str) -> None:
    assert visible(text) == text


def test_nothing_invisible_or_controlling_is_left_anywhere_in_unicode() -> None:
    every = "".join(chr(point) for point in range(0x110000))
    shown = visible(every)
    assert not [
        char for char in shown if unicodedata.category(char) in {"Cc", "Cf", "Zl", "Zp", "Cs"}
    ]
    assert shown.isascii() is False  # letters of every script are still there
    assert shown.encode("utf-8")  # no lone surrogate left to break a terminal's encoding
