"""What a password must be: 12 characters or more, not the username, and not one of the most
common passwords (the shipped list, see common_passwords.txt), nor one with digits or symbols
added at its ends, nor one said twice."""

from __future__ import annotations

import string
from pathlib import Path

MIN_PASSWORD = 12
MAX_PASSWORD = 200
MIN_VARIETY = 5  # distinct characters: "aaaaaaaaaaaa" and "121212121212" are long, not strong
_DECORATION = string.digits + string.punctuation + string.whitespace


def _load_common() -> frozenset[str]:
    lines = (Path(__file__).parent / "common_passwords.txt").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if not line.startswith("#"))  # skip the header
    return frozenset(line.strip().lower() for line in lines[start:] if line.strip())


COMMON = _load_common()


def _period(text: str) -> str:
    """The shortest piece that ``text`` is made of repeated ("abcabc" -> "abc")."""
    for size in range(1, len(text) // 2 + 1):
        if len(text) % size == 0 and text[:size] * (len(text) // size) == text:
            return text[:size]
    return text


def weakness(password: str, username: str = "") -> str | None:
    """Why this password will not do, or None if it will."""
    if len(password) < MIN_PASSWORD:
        return f"the password must be at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"the password must be at most {MAX_PASSWORD} characters"
    lowered, name = password.lower(), username.strip().lower()
    if name and (lowered == name or (len(name) >= 4 and name in lowered)):
        return "the password must not contain the username"
    if len(set(lowered)) < MIN_VARIETY:
        return "the password repeats too few characters: choose a longer phrase"
    core = lowered.strip(_DECORATION)
    if {lowered, core, _period(lowered), _period(core)} & COMMON:
        return "the password is one of the most common passwords: choose another"
    return None
