"""Local, extractive drafting: a short summary, a suggested next step, a reply to the end user.

No cloud model: sentences are picked from the ticket itself, personal data is masked, and the
reply is a per-category template that never quotes the ticket (so it cannot leak what the user
pasted into it: passwords, phone numbers, other people's e-mail addresses).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?:\+?\d[\d ()-]{6,}\d)|(?:\bext\.?\s*\d{2,6}\b)", re.I)
_SECRET = re.compile(r"\b(password|passwort|pwd|pin|passcode)\s*(?:is|=|:)\s*\S+", re.I)
_IP = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"[a-z0-9]{3,}")
_STOP = frozenset(
    "the and for with from this that have has had are was were been not but you your our can "
    "cannot could would should will there their they them she her his him its into onto when what "
    "which who how all any since need needs please thanks hello dear".split()
)


def redact(text: str) -> str:
    """Mask e-mail addresses, phone numbers, pasted secrets and IP addresses."""
    text = _SECRET.sub(lambda m: f"{m.group(1)} [redacted]", text)
    text = _EMAIL.sub("[email]", text)
    text = _IP.sub("[ip]", text)
    return _PHONE.sub("[phone]", text)


def summarize(title: str, description: str, *, max_chars: int = 240) -> str:
    """The title plus the description's most title-like sentence(s), masked, within max_chars."""
    sentences = [s.strip() for s in _SENTENCE.split(description) if len(s.strip()) > 12]
    title_words = set(_WORD.findall(title.lower())) - _STOP
    freq: dict[str, int] = {}
    for s in sentences:
        for w in set(_WORD.findall(s.lower())) - _STOP:
            freq[w] = freq.get(w, 0) + 1

    def score(item: tuple[int, str]) -> float:
        i, s = item
        words = set(_WORD.findall(s.lower())) - _STOP
        overlap = len(words & title_words) * 2 + sum(freq.get(w, 0) for w in words) / (len(words) or 1)
        return overlap - 0.3 * i  # earlier sentences usually state the problem

    chosen = sorted(sorted(enumerate(sentences), key=score, reverse=True)[:2])
    parts = [title.strip().rstrip(".")] if title.strip() else []
    for _, s in chosen:
        if sum(len(p) + 2 for p in parts) + len(s) > max_chars:
            break
        parts.append(s)
    summary = ". ".join(p.rstrip(".") for p in parts) + ("." if parts else "")
    return redact(summary)[:max_chars]


_REPLIES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("password", "account", "login", "identity", "access", "lock"),
     "we are looking at your sign-in problem now. For your security we will never ask for your "
     "password: you will receive a one-time link on your registered phone once your account is ready."),
    (("email", "mail", "outlook", "exchange"),
     "we are looking at your e-mail problem now. You do not need to restart anything; we will let "
     "you know as soon as it is fixed or if we need a few minutes of your time."),
    (("print",),
     "we are looking at the printer now. Please leave any stuck print jobs in the queue; we will "
     "clear them and let you know when printing works again."),
    (("network", "vpn", "wifi", "internet", "connect"),
     "we are looking at your connection problem now. If you can, note when it drops; we will be "
     "in touch shortly."),
    (("disk", "storage", "server", "backup", "alert", "monitor"),
     "our monitoring flagged this and we are already working on it. No action is needed from you."),
    (("licen", "software", "install", "onboarding", "new hire"),
     "we have your request and are preparing the software and access. We will confirm once "
     "everything is in place."),
)


def reply_draft(category: str, contact_name: str, ticket_number: str = "") -> str:
    """A reply to the end user, from a per-category template (never quotes the ticket)."""
    first = contact_name.strip().split(" ")[0] if contact_name.strip() else ""
    first = "" if _EMAIL.search(first) else first
    greeting = f"Hello {first}," if first else "Hello,"
    lowered = category.lower()
    body = next((text for keys, text in _REPLIES if any(k in lowered for k in keys)),
                "we have received your request and a technician is looking at it now.")
    ref = f" (ticket {ticket_number})" if ticket_number else ""
    return f"{greeting}\n\nThank you for your message{ref}: {body}\n\nKind regards,\nYour IT service desk"


def next_step(
    runbook_title: str, runbook_text: str, similar: Sequence[Mapping[str, Any]], category: str,
    needs_review: bool,
) -> str:
    """What the technician should do next, most specific first."""
    if needs_review:
        return "Check the triage first: the model was not confident (see its reasons), then correct or confirm it."
    if runbook_title:
        return f"Confirm the proposed runbook '{runbook_title}': it would {runbook_text}."
    fixed = [s for s in similar if str(s.get("resolution", "")).strip()]
    if fixed:
        return "A similar ticket was fixed by: " + redact(str(fixed[0]["resolution"]))[:200]
    topic = f" ({category})" if category else ""
    return f"Contact the requester and diagnose the issue{topic}; no runbook matches this ticket."


PRIORITY_RANK = {"critical": 0, "p1": 0, "urgent": 0, "high": 1, "p2": 1, "medium": 2, "normal": 2,
                 "p3": 2, "low": 3, "p4": 3, "planning": 4}
SLA_HOURS = {0: 1.0, 1: 4.0, 2: 8.0, 3: 24.0, 4: 72.0}


def priority_rank(priority: str) -> int:
    return PRIORITY_RANK.get(priority.strip().lower(), 2)


def sla_risk(priority: str, created_at: float, now: float, due_at: float | None = None) -> float:
    """Share of the resolution target already used (0 fresh … ≥1 breached)."""
    if due_at is not None and due_at > created_at:
        return max(0.0, (now - created_at) / (due_at - created_at))
    hours = SLA_HOURS[min(4, priority_rank(priority))]
    return max(0.0, (now - created_at) / (hours * 3600.0))
