"""Redacts personal data and credentials from ticket text before it leaves the process.

A deliberately small, Titans-only copy (the Context Server keeps its own in context/redaction.py;
the two should merge into one shared module). Placeholders keep the text readable for a model:
``[EMAIL]``, ``[PHONE]``, ``[SECRET]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
_URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.\-]*://)[^/\s:@]+:[^/\s@]+@", re.I)
_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.S
)
_KNOWN_TOKENS = re.compile(
    r"\b(?:AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{20,}|xox[abprs]-[A-Za-z0-9\-]{10,}"
    r"|sk-[A-Za-z0-9_\-]{16,}|eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{4,})"
)
_BEARER = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=\-]{8,}", re.I)
_LABELLED_SECRET = re.compile(
    r"(?<!\[)(?P<label>\b(?:pass(?:word|wd|code)?|pwd|pin|secret|api[ _\-]?key|access[ _\-]?key"
    r"|token|client[ _\-]?secret|private[ _\-]?key|mot de passe|kennwort|passwort)\b"
    r"\s*(?:is|was|=|:|->)?\s*)(?P<value>[\"']?[^\s\"',;]{3,}[\"']?)",
    re.I,
)
_PHONE = re.compile(
    r"(?<![\w.])(?:\+\d{1,3}[\s.\-]?)?(?:\(\d{1,4}\)[\s.\-]?)?\d{2,4}(?:[\s.\-]\d{2,4}){1,4}(?![\w.])"
)


@dataclass(frozen=True)
class Redaction:
    """Redacted text and how many of each kind were replaced."""

    text: str
    emails: int = 0
    phones: int = 0
    secrets: int = 0

    @property
    def total(self) -> int:
        return self.emails + self.phones + self.secrets


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _is_phone(candidate: str) -> bool:
    if _ISO_DATE.fullmatch(candidate.strip()):
        return False
    digits = sum(ch.isdigit() for ch in candidate)
    return 7 <= digits <= 15


def redact(text: str) -> Redaction:
    """Replace e-mails, phone numbers and credentials in ``text``."""
    secrets = 0
    text, n = _PRIVATE_KEY.subn("[SECRET]", text)
    secrets += n
    text, n = _URL_USERINFO.subn(lambda m: f"{m.group('scheme')}[SECRET]@", text)
    secrets += n
    text, n = _KNOWN_TOKENS.subn("[SECRET]", text)
    secrets += n
    text, n = _BEARER.subn(lambda m: f"{m.group(1)} [SECRET]", text)
    secrets += n

    def _label(m: re.Match[str]) -> str:
        nonlocal secrets
        if m.group("value").strip("\"'").startswith("[SECRET]"):
            return m.group(0)
        secrets += 1
        return f"{m.group('label')}[SECRET]"

    text = _LABELLED_SECRET.sub(_label, text)
    text, emails = _EMAIL.subn("[EMAIL]", text)
    phones = 0

    def _phone(m: re.Match[str]) -> str:
        nonlocal phones
        if _is_phone(m.group(0)):
            phones += 1
            return "[PHONE]"
        return m.group(0)

    text = _PHONE.sub(_phone, text)
    return Redaction(text=text, emails=emails, phones=phones, secrets=secrets)
