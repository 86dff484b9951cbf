"""Staff passwords: hashed with Argon2id, and refused when short, common or easy to guess."""

from __future__ import annotations

import asyncio
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 256
# zxcvbn's 0-4: 3 is "safely unguessable" against an online attack, with hashes like these.
MIN_SCORE = 3

# argon2-cffi's defaults are RFC 9106's second recommendation for Argon2id (64 MiB, 3 passes).
_hasher = PasswordHasher()


class WeakPassword(ValueError):
    """A password the shop refuses; the message says why, without repeating it."""


def check_strength(password: str, email: str) -> None:
    """Refuse a password that is short, overlong, or easy to guess (common, or made of the
    account's own email)."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"Use at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"Use at most {MAX_LENGTH} characters.")
    # Imported here: its word lists hold tens of megabytes that only the staff commands need,
    # not every shop worker.
    from zxcvbn import zxcvbn

    verdict = zxcvbn(password[:100], user_inputs=[email, *email.split("@")])
    if verdict["score"] < MIN_SCORE:
        hint = verdict["feedback"]["warning"] or "It is too easy to guess."
        raise WeakPassword(f"{hint.rstrip('.')}. Choose a longer, less common password.")


async def hash_password(password: str) -> str:
    """The Argon2id hash to store (off the event loop: hashing takes tens of milliseconds)."""
    return await asyncio.to_thread(_hasher.hash, password)


async def verify(stored: str | None, password: str) -> bool:
    """True when the password is the one hashed; with no hash, as slow as a wrong password."""
    return await asyncio.to_thread(_verify, stored, password)


@cache
def _decoy() -> str:
    # Checked against when the account does not exist, so an unknown email takes as long as a
    # known one with a wrong password. Made on first use: hashing takes 64 MiB for a moment,
    # which a shop worker that no staff member signs in to never needs.
    return _hasher.hash("not any staff member's password")


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _decoy(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False
