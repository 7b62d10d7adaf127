"""Transparent priority / SLA-risk scoring for tenants whose history has no priority labels.

This is not a learned model and is never presented as one: its predictions carry
``method="rules"``, confidence 0.0 (there is no calibrated probability) and the matched cues
as reasons. Tenants configure cue phrases, weights, level cut-offs and level names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_DEFAULT_CUES: dict[str, tuple[tuple[str, ...], float]] = {
    "outage": (
        (
            "outage",
            "is down",
            "are down",
            "server down",
            "site down",
            "network down",
            "offline",
            "not reachable",
            "unreachable",
            "ausfall",
            "störung",
            "stoerung",
            "geht nichts mehr",
        ),
        3.0,
    ),
    "wide impact": (
        (
            "all users",
            "everyone",
            "entire office",
            "whole office",
            "whole company",
            "nobody can",
            "no one can",
            "multiple users",
            "all staff",
            "alle benutzer",
            "alle mitarbeiter",
            "niemand kann",
            "ganze büro",
            "ganze firma",
        ),
        3.0,
    ),
    "security": (
        (
            "ransomware",
            "phishing",
            "malware",
            "virus",
            "breach",
            "hacked",
            "compromised",
            "suspicious login",
            "encrypted files",
            "data leak",
            "verdächtig",
            "gehackt",
            "trojaner",
        ),
        3.0,
    ),
    "vip": (("ceo", "cfo", "cto", "vip", "managing director", "geschäftsführer", "vorstand"), 2.0),
    "urgency": (
        (
            "urgent",
            "asap",
            "immediately",
            "critical",
            "emergency",
            "dringend",
            "sofort",
            "eilig",
            "notfall",
        ),
        1.5,
    ),
    "blocked": (
        ("cannot work", "can't work", "unable to work", "blocked", "kann nicht arbeiten"),
        1.0,
    ),
}
_DEFAULT_SEVERITY = {
    "critical": 3.0,
    "high": 2.0,
    "major": 2.0,
    "moderate": 1.0,
    "medium": 1.0,
    "warning": 1.0,
    "minor": 0.5,
    "low": 0.0,
    "information": 0.0,
    "info": 0.0,
}


@dataclass(frozen=True)
class PriorityRuleConfig:
    """Cue groups (name -> phrases, weight), RMM severity weights, and score cut-offs per level.

    ``levels`` is ordered from most to least urgent; a ticket gets the first level whose
    cut-off its score reaches (the last level's cut-off should be 0).
    """

    cues: dict[str, tuple[tuple[str, ...], float]] = field(
        default_factory=lambda: dict(_DEFAULT_CUES)
    )
    severity: dict[str, float] = field(default_factory=lambda: dict(_DEFAULT_SEVERITY))
    levels: tuple[tuple[str, float], ...] = (("P1", 6.0), ("P2", 3.0), ("P3", 1.0), ("P4", 0.0))


@dataclass(frozen=True)
class RuleScore:
    """The level, the score behind it and the cues that fired."""

    level: str
    score: float
    reasons: list[str]


class PriorityRules:
    """Scores impact and urgency cues in a ticket's text and alert severity."""

    def __init__(self, config: PriorityRuleConfig | None = None) -> None:
        self.config = config or PriorityRuleConfig()
        self._patterns = {
            name: (
                re.compile(r"(?<!\w)(?:" + "|".join(re.escape(p) for p in phrases) + r")(?!\w)"),
                w,
            )
            for name, (phrases, w) in self.config.cues.items()
            if phrases
        }

    def score(self, text: str, alert_severity: str = "") -> RuleScore:
        """Score a (normalised, lower-case) ticket text."""
        total = 0.0
        reasons: list[str] = []
        lowered = text.lower()
        for name, (pattern, weight) in self._patterns.items():
            match = pattern.search(lowered)
            if match:
                total += weight
                reasons.append(f"rule {name} (+{weight:g}): '{match.group(0)}'")
        sev = alert_severity.strip().lower()
        if sev:
            weight = self.config.severity.get(sev, 0.0)
            total += weight
            reasons.append(f"rule alert severity {sev} (+{weight:g})")
        level = self.config.levels[-1][0]
        for name, cutoff in self.config.levels:
            if total >= cutoff:
                level = name
                break
        return RuleScore(level, total, reasons)


def tailored(
    base: PriorityRuleConfig,
    *,
    cues: dict[str, tuple[tuple[str, ...] | None, tuple[str, ...], float | None, bool]]
    | None = None,
    severity: dict[str, float] | None = None,
    levels: dict[str, float] | None = None,
) -> PriorityRuleConfig:
    """``base`` with a tenant's changes: per cue group (phrases that replace the group's, phrases
    added to it, a new weight, enabled), severity weights merged over the base's, and levels
    (name -> cut-off) that replace the base's. A new group needs phrases and a weight; the
    lowest cut-off must be 0 so that every ticket gets a level."""
    merged = dict(base.cues)
    for name, (phrases, add, weight, enabled) in (cues or {}).items():
        if not enabled:
            merged.pop(name, None)
            continue
        old_phrases, old_weight = merged.get(name, (None, None))
        new_phrases = phrases if phrases is not None else old_phrases
        new_weight = weight if weight is not None else old_weight
        if new_phrases is None or new_weight is None:
            raise ValueError(f"new cue group {name!r} needs phrases and a weight")
        words = tuple(dict.fromkeys(p.strip().lower() for p in (*new_phrases, *add) if p.strip()))
        if not words:
            raise ValueError(f"cue group {name!r} has no phrases (use enabled = false to drop it)")
        merged[name] = (words, float(new_weight))
    sev = {**base.severity, **{k.strip().lower(): float(v) for k, v in (severity or {}).items()}}
    new_levels = base.levels
    if levels is not None:
        if not levels:
            raise ValueError("levels must name at least one level")
        ordered = tuple(sorted(((k, float(v)) for k, v in levels.items()), key=lambda kv: -kv[1]))
        if ordered[-1][1] != 0.0:
            raise ValueError("the lowest level's cut-off must be 0, so every ticket gets a level")
        new_levels = ordered
    return PriorityRuleConfig(cues=merged, severity=sev, levels=new_levels)
