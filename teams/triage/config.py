"""Per-tenant triage policy, read from the tenants file's ``[triage.<tenant>]`` tables.

Like the shadow team's ``[shadow.<tenant>]`` tables, these sit in the same tenants file as
``[tenants.<name>]`` (which holds ``target_precision``, the precision the tenant's abstention
threshold holds). Today they hold the priority rules a tenant tailors, used where its history
has no priority labels and the PSA gave none:

    [triage.acme.priority.levels]                # name = cut-off; replaces P1..P4 (lowest: 0)
    Critical = 6.0
    High = 3.0
    Normal = 0.0

    [triage.acme.priority.cues.vip]              # a default group: change phrases and/or weight
    add_phrases = ["dr. meier", "praxisinhaber"]
    weight = 3.0

    [triage.acme.priority.cues.line_of_business] # a new group needs phrases and a weight
    phrases = ["datev", "sage 100", "kassensystem"]
    weight = 2.0

    [triage.acme.priority.cues.urgency]          # drop a default group
    enabled = false

    [triage.acme.priority.severity]              # RMM alert severity weights, merged
    warning = 0.0

Tenants without a table get the defaults (titans/local/rules.py). A malformed table stops the
start with a message naming the tenant and the field, rather than triaging with rules nobody set.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from federation.errors import FailedPrecondition
from titans.local.rules import PriorityRuleConfig, tailored


class CueGroupChange(BaseModel):
    """Changes to one cue group (or a new group)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    phrases: tuple[str, ...] | None = None  # replace the group's phrases
    add_phrases: tuple[str, ...] = ()  # add to them
    weight: float | None = Field(default=None, ge=0.0, le=100.0)
    enabled: bool = True


class PriorityRulesChange(BaseModel):
    """A tenant's ``[triage.<tenant>.priority]`` table."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cues: dict[str, CueGroupChange] = Field(default_factory=dict)
    severity: dict[str, float] = Field(default_factory=dict)
    levels: dict[str, float] | None = None


class TriagePolicy(BaseModel):
    """One tenant's ``[triage.<tenant>]`` table."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    priority: PriorityRulesChange | None = None

    def priority_rules(self) -> PriorityRuleConfig | None:
        """The tenant's rules (defaults with its changes), or None when it changes nothing."""
        if self.priority is None:
            return None
        p = self.priority
        return tailored(
            PriorityRuleConfig(),
            cues={n: (c.phrases, c.add_phrases, c.weight, c.enabled) for n, c in p.cues.items()},
            severity=p.severity,
            levels=p.levels,
        )


class TriagePolicyError(FailedPrecondition):
    """A ``[triage.<tenant>]`` table that cannot be used, with the tenant and the reason
    (``omega up`` prints it in one line and exits 2)."""

    reason = "BAD_TENANTS_FILE"


class TriagePolicies:
    """Each tenant's triage policy; tenants without a ``[triage.*]`` table get the defaults."""

    def __init__(self, policies: dict[str, TriagePolicy]) -> None:
        self._policies = dict(policies)
        self._default = TriagePolicy()

    def get(self, tenant: str) -> TriagePolicy:
        return self._policies.get(tenant, self._default)

    def priority_rules(self) -> dict[str, PriorityRuleConfig]:
        """Tenant -> its tailored priority rules (only tenants that change them)."""
        out = {}
        for tenant, policy in self._policies.items():
            rules = policy.priority_rules()
            if rules is not None:
                out[tenant] = rules
        return out

    @classmethod
    def load(cls, path: Path) -> TriagePolicies:
        raw: dict[str, Any] = {}
        if path.exists():
            raw = tomllib.loads(path.read_text()).get("triage", {})
        policies = {}
        for tenant, body in raw.items():
            try:
                policy = TriagePolicy(**body)
                policy.priority_rules()  # a group without phrases, levels without a 0 cut-off
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise TriagePolicyError(
                    f"[triage.{tenant}] in {path}: {where}: {first['msg']}"
                ) from None
            except ValueError as exc:
                raise TriagePolicyError(f"[triage.{tenant}.priority] in {path}: {exc}") from None
            policies[tenant] = policy
        return cls(policies)
