"""PII redaction applied before text is embedded or stored in the long-term index.

Replaces e-mail addresses, phone numbers, IP addresses (optional), credentials pasted into
tickets ("password: hunter2", "api_key=..."), card-like numbers (Luhn-checked) and the names the
caller marks. E-mail addresses found in the text are returned so erasure by subject finds them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
_CREDENTIAL = re.compile(
    r"(?i)\b(pass(?:word|wd|code)?|pwd|pin|secret|api[_ -]?key|token|access[_ -]?key|"
    r"client[_ -]?secret|mot de passe|kennwort|passwort)\b(\s*(?:is|=|:|->)\s*|\s+)(\S+)"
)
_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
_PHONE = re.compile(r"(?<![\w.])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d{2,4}(?:[\s.-]\d{2,4}){1,4}(?![\w.])")
_IPV4 = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")
_IPV6 = re.compile(r"\b(?:[0-9A-Fa-f]{1,4}:){2,7}[0-9A-Fa-f]{1,4}\b")


@dataclass(frozen=True)
class Redaction:
    """The redacted text, how many spans were replaced and the e-mail addresses found."""

    text: str
    count: int
    emails: tuple[str, ...]


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _phone_like(match: str) -> bool:
    digits = re.sub(r"\D", "", match)
    return 7 <= len(digits) <= 15


class Redactor:
    """Replaces personal data with placeholders such as ``[EMAIL]``."""

    def __init__(self, *, redact_ips: bool = True) -> None:
        self._redact_ips = redact_ips

    def redact(self, text: str, names: Iterable[str] = ()) -> Redaction:
        count = 0

        def sub(pattern: re.Pattern[str], repl: str, s: str, keep: object = None) -> str:
            nonlocal count

            def _r(m: re.Match[str]) -> str:
                nonlocal count
                if keep is not None and not keep(m.group(0)):  # type: ignore[operator]
                    return m.group(0)
                count += 1
                return repl

            return pattern.sub(_r, s)

        emails = tuple(dict.fromkeys(m.group(0).lower() for m in _EMAIL.finditer(text)))
        out = sub(_EMAIL, "[EMAIL]", text)

        def _cred(m: re.Match[str]) -> str:
            nonlocal count
            count += 1
            return f"{m.group(1)}{m.group(2)}[SECRET]"

        out = _CREDENTIAL.sub(_cred, out)
        out = sub(_CARD, "[CARD]", out, keep=lambda s: _luhn_ok(re.sub(r"\D", "", s)))
        if self._redact_ips:
            out = sub(_IPV6, "[IP]", out)
            out = sub(_IPV4, "[IP]", out)
        out = sub(_PHONE, "[PHONE]", out, keep=_phone_like)
        for name in sorted({n.strip() for n in names if n and n.strip()}, key=len, reverse=True):
            for part in {name, *name.split()} if len(name.split()) > 1 else {name}:
                if len(part) < 2:
                    continue
                out = sub(re.compile(rf"(?i)\b{re.escape(part)}\b"), "[NAME]", out)
        return Redaction(out, count, emails)


def subject_hash(subject_id: str, salt: str) -> str:
    """A stable, non-reversible key for a person id or e-mail (case and spaces ignored)."""
    norm = subject_id.strip().lower()
    return hashlib.sha256(f"{salt}\x00{norm}".encode()).hexdigest()
