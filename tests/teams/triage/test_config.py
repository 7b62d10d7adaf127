"""Per-tenant triage policy from the tenants file (`[triage.<tenant>]`): tailored priority rules
applied to that tenant only, the training precision, and clear refusals of tables that cannot
be used (in the loader and at `omega up`, a real command)."""

from __future__ import annotations

from pathlib import Path

import pytest

from federation.errors import FailedPrecondition
from mesh.app import local_titan
from teams.shadow.config import ShadowPolicies
from teams.triage.config import TriagePolicies, TriagePolicyError
from tests.conftest import make_settings, run_omega_up
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


def test_a_team_without_the_tenants_file_reads_tenants_rules_and_targets_from_the_policies_file(
    tmp_path: Path,
) -> None:
    """On AKS the triage and shadow pods hold no tenants file (its webhook secrets stay with
    gateway, ingest and orchestrator): OMEGA_POLICIES_FILE (a ConfigMap) gives them the tenants,
    each tenant's priority rules and precision target, and the shadow policies."""
    policies = tmp_path / "policies.toml"
    policies.write_text(
        TENANTS.replace(
            'display_name = "Acme dental practices"',
            'display_name = "Acme dental practices"\ntarget_precision = 0.97',
        )
        + '\n[shadow.acme]\nauto_apply = ["account_unlock"]\n',
        encoding="utf-8",
    )
    settings = make_settings(tmp_path, policies_file=policies)
    assert not settings.tenants_path.exists()
    tenants = settings.tenant_directory()
    assert tenants.names() == ["acme", "default"]
    assert tenants.target_precisions()["acme"] == 0.97
    assert ShadowPolicies.load(settings.policies_path).get("acme").auto_apply == ("account_unlock",)

    triager = local_titan(settings, tenants, embedder=None)
    assert triager.train("acme", synthetic_tickets(300, seed=7)).promoted
    assert triager.model("acme").target_precision == 0.97
    decision = triager.triage(
        "acme", title="Dampsoft startet nicht", description="röntgen, Praxisinhaber"
    )
    assert (decision.priority.label, decision.priority.method) == ("Critical", "rules")


def test_the_tenants_file_and_the_policies_file_merge_and_a_missing_policies_file_is_refused(
    tmp_path: Path,
) -> None:
    """Where a process has both (embedded mode may): tenants from either, fields from both, the
    tenants file winning a field set in both. A policies file that is named but absent (a
    ConfigMap not mounted) stops the process instead of running on defaults."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "tenants.toml").write_text(
        '[tenants.acme]\ndisplay_name = "Acme (tenants file)"\n'
        'autotask_webhook_secret = "s3cret-s3cret-s3cret"\n',
        encoding="utf-8",
    )
    policies = tmp_path / "policies.toml"
    policies.write_text(
        '[tenants.acme]\ndisplay_name = "Acme (policies)"\ntarget_precision = 0.9\n'
        "[tenants.globex]\ntarget_precision = 0.98\n",
        encoding="utf-8",
    )
    tenants = make_settings(tmp_path, policies_file=policies).tenant_directory()
    assert tenants.names() == ["acme", "default", "globex"]
    acme = tenants.get("acme")
    assert acme.display_name == "Acme (tenants file)" and acme.target_precision == 0.9
    assert acme.autotask_webhook_secret is not None
    assert tenants.target_precisions()["globex"] == 0.98

    with pytest.raises(FailedPrecondition, match="OMEGA_POLICIES_FILE .* does not exist"):
        make_settings(tmp_path, policies_file=tmp_path / "absent.toml").tenant_directory()
