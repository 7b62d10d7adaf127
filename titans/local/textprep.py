"""Ticket text preparation shared by training and inference."""

from __future__ import annotations

import re

_LINE_BREAK = re.compile(r"_x000[dDaA]_")
_SPACE = re.compile(r"\s+")
_MOJIBAKE_MARKERS = ("Ã", "â€", "Â")


def repair_mojibake(text: str) -> str:
    """Undo UTF-8 text that was decoded as cp1252/latin-1 (``fÃ¼r`` -> ``für``) when possible."""
    if not any(marker in text for marker in _MOJIBAKE_MARKERS):
        return text
    for codec in ("cp1252", "latin-1"):
        try:
            return text.encode(codec).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
    return text


def normalise_text(text: str) -> str:
    """Lower-case, repair mojibake, turn Excel ``_x000D_`` line breaks into spaces, squeeze spaces."""
    text = repair_mojibake(_LINE_BREAK.sub(" ", text or ""))
    return _SPACE.sub(" ", text).strip().lower()


TITLE_SEPARATOR = " . "


def ticket_text(title: str, description: str) -> str:
    """One normalised string from a ticket's title and description (description deduplicated)."""
    title_n = normalise_text(title)
    desc_n = normalise_text(description)
    if not desc_n or desc_n == title_n:
        return title_n
    if not title_n:
        return desc_n
    return f"{title_n}{TITLE_SEPARATOR}{desc_n}"


def title_of(text: str) -> str:
    """The title part of a ``ticket_text`` that has both a title and a description, else "".

    A text with one part (title only, description only or both the same) has no separate title:
    its words are all in the main features already."""
    title, sep, _ = text.partition(TITLE_SEPARATOR)
    return title if sep else ""
