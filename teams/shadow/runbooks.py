"""The runbook catalogue: which automation fits a ticket, with which parameters and confidence."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

DEFAULT_CATALOGUE = Path(__file__).resolve().parent / "runbooks.toml"

_HOST = re.compile(r"\b([A-Z][A-Z0-9]{1,14}-[A-Z0-9-]{1,20})\b")
_DRIVE = re.compile(r"\b([A-Z]):(?![\w/])")
_PRINTER_AFTER = re.compile(r"\b[Pp]rinter\s+(?:named\s+|called\s+)?[\"']?([A-Z0-9][\w-]{1,30})")
_PRINTER_BEFORE = re.compile(r"\b([A-Z][\w-]{1,30})\s+printer\b")
_PRODUCTS = (
    "Microsoft 365 E3", "Microsoft 365 E5", "Microsoft 365 Business Premium", "Microsoft 365",
    "Office 365", "Visio", "Project", "Power BI Pro", "Adobe Acrobat", "Adobe Creative Cloud",
    "AutoCAD", "Teams Phone",
)
_NOT_A_PRINTER = {"the", "a", "our", "my", "this", "that", "every", "each", "no"}


@dataclass(frozen=True)
class Runbook:
    """One automation: where it applies, what it needs, and how sure we must be."""

    name: str
    title: str
    categories: tuple[str, ...]
    keywords: tuple[str, ...]
    params: tuple[str, ...]
    unattended: bool
    threshold: float
    dry_run: str
    undo: str = ""
    enabled: bool = True

    def describe(self, params: Mapping[str, str]) -> str:
        """The dry-run text with the parameters filled in."""
        return self.dry_run.format_map({k: params.get(k, f"<{k}>") for k in self.params})

    def describe_undo(self, params: Mapping[str, str]) -> str:
        return self.undo.format_map({k: params.get(k, f"<{k}>") for k in self.params})


@dataclass(frozen=True)
class RunbookMatch:
    """A runbook that fits a ticket, with its extracted parameters and match confidence."""

    runbook: Runbook
    params: dict[str, str]
    confidence: float
    why: list[str] = field(default_factory=list)


def _runbook(name: str, body: Mapping[str, Any]) -> Runbook:
    return Runbook(
        name=name,
        title=str(body.get("title", name)),
        categories=tuple(str(c).lower() for c in body.get("categories", ())),
        keywords=tuple(str(k).lower() for k in body.get("keywords", ())),
        params=tuple(str(p) for p in body.get("params", ())),
        unattended=bool(body.get("unattended", False)),
        threshold=float(body.get("threshold", 0.9)),
        dry_run=str(body.get("dry_run", "")),
        undo=str(body.get("undo", "")),
        enabled=bool(body.get("enabled", True)),
    )


class RunbookCatalogue:
    """The runbooks of one tenant: the shipped defaults with the tenant's overrides applied."""

    def __init__(self, runbooks: Mapping[str, Runbook]) -> None:
        self.runbooks = {n: r for n, r in runbooks.items() if r.enabled}

    @classmethod
    def load(
        cls, overrides: Mapping[str, Mapping[str, Any]] | None = None, path: Path = DEFAULT_CATALOGUE
    ) -> RunbookCatalogue:
        raw = tomllib.loads(path.read_text()).get("runbooks", {})
        books = {name: _runbook(name, body) for name, body in raw.items()}
        for name, change in (overrides or {}).items():
            base = books.get(name)
            if base is None:
                books[name] = _runbook(name, change)
                continue
            merged = _runbook(name, {**_as_body(base), **change})
            books[name] = replace(merged)
        return cls(books)

    def get(self, name: str) -> Runbook | None:
        return self.runbooks.get(name)

    def match(self, fields: Mapping[str, Any], triage: Mapping[str, Any]) -> RunbookMatch | None:
        """The best-fitting runbook whose parameters could all be extracted, or None."""
        text = f"{fields.get('title', '')}\n{fields.get('description', '')}"
        lowered = text.lower()
        cat = triage.get("category") if isinstance(triage.get("category"), Mapping) else {}
        label = str((cat or {}).get("label", "")).lower()
        cat_conf = float((cat or {}).get("confidence", 0.0))
        best: RunbookMatch | None = None
        for book in self.runbooks.values():
            hits = [k for k in book.keywords if k in lowered]
            if not hits:
                continue
            in_category = bool(label) and any(c in label for c in book.categories)
            params = extract_params(book.params, fields, text)
            if any(not params.get(p) for p in book.params):
                continue
            # Keyword evidence alone is weak; agreeing with the model's category is strong.
            confidence = cat_conf if in_category else 0.5 * cat_conf
            confidence = min(1.0, confidence + 0.02 * (len(hits) - 1))
            why = [f"the ticket mentions {', '.join(repr(h) for h in hits[:3])}"]
            if in_category:
                why.append(f"the triage category {label!r} is one this runbook applies to")
            candidate = RunbookMatch(book, params, round(confidence, 4), why)
            if best is None or candidate.confidence > best.confidence:
                best = candidate
        return best


def _as_body(book: Runbook) -> dict[str, Any]:
    return {
        "title": book.title, "categories": list(book.categories), "keywords": list(book.keywords),
        "params": list(book.params), "unattended": book.unattended, "threshold": book.threshold,
        "dry_run": book.dry_run, "undo": book.undo, "enabled": book.enabled,
    }


def extract_params(names: tuple[str, ...], fields: Mapping[str, Any], text: str) -> dict[str, str]:
    """Pull each named parameter from the ticket's fields or text ("" when absent)."""
    raw_extra = fields.get("extra")
    extra: Mapping[str, Any] = raw_extra if isinstance(raw_extra, Mapping) else {}
    out: dict[str, str] = {}
    for name in names:
        value = ""
        if name == "user":
            value = str(fields.get("contact_email") or fields.get("contact_name") or "")
            if not value and (extra.get("contact_id") or extra.get("person_id")):
                # The PSA named the requester only by id (no picklist entry): the executor
                # resolves it; the id is not personal data in itself.
                value = f"contact #{extra.get('contact_id') or extra.get('person_id')}"
        elif name == "device":
            value = str(extra.get("device_name") or extra.get("device") or extra.get("hostname") or "")
            if not value:
                m = _HOST.search(text)
                value = m.group(1) if m else ""
        elif name == "disk":
            value = str(extra.get("disk") or extra.get("disk_name") or "")
            if not value:
                m = _DRIVE.search(text)
                value = f"{m.group(1)}:" if m else ""
        elif name == "printer":
            value = str(extra.get("printer") or "")
            if not value:
                for pattern in (_PRINTER_AFTER, _PRINTER_BEFORE):
                    found = [m.group(1) for m in pattern.finditer(text)]
                    found = [f for f in found if f.lower() not in _NOT_A_PRINTER]
                    if found:
                        value = found[0]
                        break
        elif name == "product":
            lowered = text.lower()
            value = next((p for p in _PRODUCTS if p.lower() in lowered), "")
        else:
            value = str(extra.get(name) or "")
        out[name] = value
    return out
