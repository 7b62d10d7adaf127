"""Per-tenant triage policy from the tenants file (`[triage.<tenant>]`): tailored priority rules
applied to that tenant only, the training precision, and clear refusals of tables that cannot
be used (in the loader and at `omega up`, a real command)."""

from __future__ import annotations

from pathlib import Path

import pytest

from teams.triage.config import TriagePolicies, TriagePolicyError
from tests.conftest import run_omega_up
from tests.titans.local.conftest import synthetic_tickets
from titans.local.rules import PriorityRuleConfig, PriorityRules
from titans.local.service import LocalTriage

TENANTS = """
[tenants.acme]
display_name = "Acme dental practices"

[triage.acme.priority.levels]
Critical = 6.0
High = 3.0
Normal = 0.0

[triage.acme.priority.cues.vip]
add_phrases = ["Praxisinhaber"]
weight = 3.0

[triage.acme.priority.cues.line_of_business]
phrases = ["dampsoft", "röntgen"]
weight = 3.0

[triage.acme.priority.cues.urgency]
enabled = false

[triage.acme.priority.severity]
warning = 0.0
"""


def _policies(tmp_path: Path, text: str) -> TriagePolicies:
    path = tmp_path / "tenants.toml"
    path.write_text(text, encoding="utf-8")
    return TriagePolicies.load(path)


def test_a_tenants_table_tailors_its_rules_on_top_of_the_defaults(tmp_path: Path) -> None:
    policies = _policies(tmp_path, TENANTS)
    assert policies.get("globex").priority is None  # no table: the defaults
    rules = policies.priority_rules()
    assert list(rules) == ["acme"]
    acme, default = rules["acme"], PriorityRuleConfig()
    assert acme.levels == (("Critical", 6.0), ("High", 3.0), ("Normal", 0.0))
    phrases, weight = acme.cues["vip"]
    assert (
        weight == 3.0 and "praxisinhaber" in phrases and set(default.cues["vip"][0]) < set(phrases)
    )
    assert acme.cues["line_of_business"] == (("dampsoft", "röntgen"), 3.0)
    assert "urgency" not in acme.cues and acme.cues["outage"] == default.cues["outage"]
    assert (
        acme.severity["warning"] == 0.0
        and acme.severity["critical"] == default.severity["critical"]
    )

    scored = PriorityRules(acme).score(
        "röntgen software dampsoft startet nicht, praxisinhaber wartet"
    )
    assert scored.level == "Critical" and scored.score == 6.0
    assert any("line_of_business" in r for r in scored.reasons)
    assert PriorityRules(acme).score("urgent: printer toner").level == "Normal"  # urgency dropped
    assert PriorityRules(default).score("urgent: printer toner").level == "P3"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            "[triage.acme.priority.cues.billing]\nweight = 2.0\n",
            "new cue group 'billing' needs phrases",
        ),
        (
            "[triage.acme.priority.levels]\nHigh = 3.0\nLow = 1.0\n",
            "lowest level's cut-off must be 0",
        ),
        ("[triage.acme.priority.cues.vip]\nphrases = []\n", "cue group 'vip' has no phrases"),
        ("[triage.acme.priority.cues.vip]\nwieght = 2.0\n", "priority.cues.vip.wieght"),
        ("[triage.acme]\nthreshold = 0.9\n", "threshold"),
    ],
)
def test_a_table_that_cannot_be_used_is_refused_naming_tenant_and_field(
    tmp_path: Path, table: str, message: str
) -> None:
    with pytest.raises(TriagePolicyError, match=r"\[triage\.acme") as err:
        _policies(tmp_path, table)
    assert message in str(err.value)


def test_each_tenant_is_triaged_with_its_own_rules(tmp_path: Path) -> None:
    """Two tenants, models trained without priority labels, the same ticket: acme's tailored
    rules and levels for acme, the defaults for globex, each marked as rules."""
    rules = _policies(tmp_path, TENANTS).priority_rules()
    lt = LocalTriage(tmp_path / "models", tenant_rules=rules)
    for tenant in ("acme", "globex"):
        assert lt.train(tenant, synthetic_tickets(300, seed=7)).promoted
    text = {"title": "Dampsoft startet nicht", "description": "röntgen blocked, praxisinhaber"}
    acme = lt.triage("acme", **text)
    globex = lt.triage("globex", **text)
    assert (acme.priority.label, acme.priority.method, acme.priority.confidence) == (
        "Critical",
        "rules",
        0.0,
    )
    assert any("rule line_of_business (+3)" in r for r in acme.reasons)
    assert globex.priority.method == "rules" and globex.priority.label == "P3"  # "blocked": +1
    assert not any("line_of_business" in r for r in globex.reasons)


def test_each_tenant_s_models_hold_its_own_precision_target(tmp_path: Path) -> None:
    """`[tenants.<t>] target_precision` reaches training: a stricter target, a higher threshold."""
    lt = LocalTriage(tmp_path / "models", target_precisions={"strict": 0.99})
    rows = synthetic_tickets(400, seed=9)
    lt.train("strict", rows)
    lt.train("relaxed", rows)
    strict, relaxed = lt.model("strict"), lt.model("relaxed")
    assert (strict.target_precision, relaxed.target_precision) == (0.99, 0.95)
    assert strict.heads["category"].threshold > relaxed.heads["category"].threshold


def test_omega_up_refuses_a_tenants_file_with_an_unusable_triage_table(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "tenants.toml").write_text(
        "[tenants.default]\n\n[triage.default.priority.levels]\nHigh = 3.0\n", encoding="utf-8"
    )
    done = run_omega_up(data)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "[triage.default.priority]" in done.stderr and "cut-off must be 0" in done.stderr
    assert "Traceback" not in done.stderr
