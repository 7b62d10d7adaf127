"""`python -m mesh.check` passes on the repository and fails, with the right rule, on a broken copy.

Each broken case copies the deployment tree (mesh/k8s, mesh/azure, protos, Dockerfile) to a
temporary repository, breaks exactly one thing and asserts the rule id that reports it. The
renders are real (`kubectl kustomize`), and so are the schemas (../shared/schemas beside the repo).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mesh import check

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = REPO / ".." / "shared" / "schemas"

pytestmark = [
    pytest.mark.skipif(
        not (SCHEMAS / "keda.sh").is_dir(), reason="../shared/schemas (CRD schemas) not present"
    ),
    pytest.mark.skipif(
        shutil.which("kubectl") is None and shutil.which("kustomize") is None,
        reason="kubectl (kustomize) not installed",
    ),
]


@pytest.fixture(scope="module")
def repo_report() -> check.Report:
    return check.run(REPO, SCHEMAS)


@pytest.fixture
def broken_repo(tmp_path: Path) -> Path:
    """A copy of everything mesh.check reads, to break one thing in."""
    root = tmp_path / "repo"
    shutil.copytree(REPO / "mesh" / "k8s", root / "mesh" / "k8s")
    shutil.copytree(REPO / "mesh" / "azure", root / "mesh" / "azure")
    shutil.copytree(REPO / "protos", root / "protos", ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(REPO / "Dockerfile", root / "Dockerfile")
    return root


def _edit(path: Path, change: Callable[[str], str]) -> None:
    before = path.read_text()
    after = change(before)
    assert after != before, f"the edit did not change {path.name}"
    path.write_text(after)


def _drop_document(text: str, kind: str) -> str:
    """Remove the one YAML document of ``kind`` from a multi-document file."""
    parts = re.split(r"^---\n", text, flags=re.M)
    kept = [p for p in parts if not re.search(rf"^kind: {kind}$", p, flags=re.M)]
    assert len(kept) == len(parts) - 1
    return "---\n".join(kept)


def _problems(report: check.Report, rule: str) -> list[str]:
    return [str(p) for p in report.problems if p.rule == rule]


def test_mesh_check_passes_on_the_repo(repo_report: check.Report) -> None:
    assert [str(p) for p in repo_report.problems] == []
    assert repo_report.documents > 100


def test_main_exits_zero_on_the_repo(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.main(["--repo", str(REPO), "--schemas", str(SCHEMAS)]) == 0
    assert "mesh-check: OK" in capsys.readouterr().out


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    command = check.kustomize_command()
    return {
        overlay: check.render(REPO / "mesh" / "k8s" / "overlays" / overlay, command)
        for overlay in ("dev", "prod")
    }


def test_every_overlay_is_rendered_and_every_team_scales_from_zero(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    for overlay, docs in rendered.items():
        scaled = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "ScaledObject"}
        assert set(scaled) == {"triage", "shadow", "analytics"}
        for spec in scaled.values():
            assert spec["minReplicaCount"] == 0
            kinds = {t["type"] for t in spec["triggers"]}
            assert kinds == {"azure-servicebus", "external"}
        replicas = {
            d["metadata"]["name"]: d["spec"].get("replicas")
            for d in docs
            if d["kind"] == "Deployment"
        }
        if overlay == "prod":
            assert replicas["federation-core"] == 3
            assert replicas["context-server"] == 3
            assert replicas["capacity-manager"] == 1
        else:
            assert replicas["federation-core"] == 1


def test_the_teams_read_tenants_and_their_policies_from_a_configmap_not_the_secrets(
    rendered: dict[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    """Triage and shadow run each tenant's priority rules, precision target and shadow policy;
    they must not mount the tenants file (webhook secrets, PSA credentials). So each sets
    OMEGA_POLICIES_FILE to a file of a mounted ConfigMap, whose shipped content loads."""
    from mesh.settings import OmegaSettings

    for docs in rendered.values():
        configmaps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
        for team in ("triage", "shadow"):
            pod = next(
                d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == team
            )["spec"]["template"]["spec"]
            container = pod["containers"][0]
            env = {e["name"]: e.get("value") for e in container.get("env", [])}
            assert "OMEGA_TENANTS_FILE" not in env
            policies = Path(env["OMEGA_POLICIES_FILE"])
            mount = next(
                m for m in container["volumeMounts"] if m["mountPath"] == str(policies.parent)
            )
            volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
            text = configmaps[volume["configMap"]["name"]]["data"][policies.name]
            (tmp_path / policies.name).write_text(text, encoding="utf-8")
            settings = OmegaSettings(
                data_dir=tmp_path / "data", policies_file=tmp_path / policies.name
            )
            assert "default" in settings.tenant_directory().names()
            classes = {v.get("csi", {}).get("volumeAttributes", {}).get("secretProviderClass")
                       for v in pod["volumes"]}  # fmt: skip
            assert "omega-tenant-secrets" not in classes


def test_the_nightly_retrain_job_runs_omega_model_train_for_every_tenant(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    """The CronJob's arguments parse with the real `omega` CLI; one run at a time; no Istio
    sidecar (it would keep the pod alive after training); the shadow identity (Cosmos, Blob);
    the tenants' policies mounted; a pinned image in prod."""
    from mesh.cli import build_parser

    for overlay, docs in rendered.items():
        job = next(d for d in docs if d["kind"] == "CronJob")
        assert job["metadata"]["name"] == "model-retrain"
        assert job["spec"]["concurrencyPolicy"] == "Forbid"
        template = job["spec"]["jobTemplate"]["spec"]["template"]
        assert template["metadata"]["annotations"]["sidecar.istio.io/inject"] == "false"
        pod = template["spec"]
        assert pod["serviceAccountName"] == "shadow" and pod["restartPolicy"] == "Never"
        container = pod["containers"][0]
        args = build_parser().parse_args(container["args"])
        assert args.model_command == "train" and args.all_tenants and args.out is None
        assert args.min_new >= 1 and str(args.cache).startswith("/tmp/")
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        assert env["OMEGA_POLICIES_FILE"].startswith("/etc/omega/policies/")
        if overlay == "prod":
            assert container["image"].endswith("/omega:0.1.0")


def _allowed(docs: list[dict[str, Any]], callee: str, caller: str) -> set[str]:
    policy = next(
        d for d in docs if d["kind"] == "AuthorizationPolicy" and d["metadata"]["name"] == callee
    )
    principal = f"cluster.local/ns/omega/sa/{caller}"
    return {
        path
        for rule in policy["spec"]["rules"]
        if any(principal in s["source"].get("principals", []) for s in rule.get("from", []))
        for to in rule["to"]
        for path in to["operation"]["paths"]
    }


def test_callers_get_exactly_the_grpc_paths_they_need(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    docs = rendered["prod"]
    assert "/omega.ingest.v1.IngestService/IngestTicket" in _allowed(docs, "ingest", "gateway")
    assert "/omega.context.v1.ContextService/Recall" in _allowed(docs, "context-server", "triage")
    assert _allowed(docs, "context-server", "analytics") == {
        "/omega.context.v1.ContextService/Remember"
    }
    assert _allowed(docs, "ingest", "analytics") == set()
    every_path = {
        path
        for d in docs
        if d["kind"] == "AuthorizationPolicy"
        for rule in d["spec"].get("rules", [])
        for to in rule["to"]
        for path in to["operation"]["paths"]
    }
    wildcards = {
        p
        for p in every_path
        if p.endswith("/*") and not p.startswith(("/webhooks", "/mcp", "/dashboard"))
    }
    assert wildcards == set()


def test_a_removed_probe_fails(broken_repo: Path) -> None:
    path = broken_repo / "mesh/k8s/base/services/ingest.yaml"
    _edit(path, lambda t: re.sub(r"        readinessProbe:\n(          .*\n)+", "", t, count=1))
    report = check.run(broken_repo, SCHEMAS)
    found = _problems(report, "PROBES")
    assert found and all("Deployment/ingest" in p and "readinessProbe" in p for p in found)


def test_run_as_user_zero_fails(broken_repo: Path) -> None:
    path = broken_repo / "mesh/k8s/base/teams/triage.yaml"
    _edit(path, lambda t: t.replace("runAsUser: 10001", "runAsUser: 0", 1))
    report = check.run(broken_repo, SCHEMAS)
    found = _problems(report, "RUN_AS_ROOT")
    assert len(found) == 2  # dev and prod
    assert all("Deployment/triage" in p for p in found)


def test_a_cron_job_gets_the_same_pod_rules(broken_repo: Path) -> None:
    path = broken_repo / "mesh/k8s/base/jobs/model-retrain.yaml"
    _edit(path, lambda t: t.replace("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"))
    report = check.run(broken_repo, SCHEMAS)
    found = _problems(report, "SECURITY_CONTEXT")
    assert found and all("CronJob/model-retrain" in p for p in found)
    assert any("readOnlyRootFilesystem" in p for p in found)


def test_a_malformed_scaled_object_fails(broken_repo: Path) -> None:
    path = broken_repo / "mesh/k8s/base/teams/shadow.yaml"
    _edit(path, lambda t: t.replace("  minReplicaCount: 0", "  minReplicaCount: zero"))
    report = check.run(broken_repo, SCHEMAS)
    found = _problems(report, "SCHEMA")
    assert found and all("ScaledObject/shadow" in p and "minReplicaCount" in p for p in found)


def test_a_misspelt_scaled_object_field_fails(broken_repo: Path) -> None:
    path = broken_repo / "mesh/k8s/base/teams/analytics.yaml"
    _edit(path, lambda t: t.replace("  cooldownPeriod:", "  cooldownPeriods:"))
    report = check.run(broken_repo, SCHEMAS)
    assert any("ScaledObject/analytics" in p for p in _problems(report, "SCHEMA"))


def test_a_missing_authorization_policy_fails(broken_repo: Path) -> None:
    path = broken_repo / "mesh/k8s/base/services/context-server.yaml"
    _edit(path, lambda t: _drop_document(t, "AuthorizationPolicy"))
    report = check.run(broken_repo, SCHEMAS)
    found = _problems(report, "AUTHZ_MISSING")
    assert len(found) == 2 and all("Service/context-server" in p for p in found)


def test_an_unknown_grpc_path_fails(broken_repo: Path) -> None:
    path = broken_repo / "mesh/k8s/base/services/context-server.yaml"
    _edit(
        path,
        lambda t: t.replace(
            "/omega.context.v1.ContextService/Recall", "/omega.context.v1.ContextService/Recal", 1
        ),
    )
    report = check.run(broken_repo, SCHEMAS)
    assert any("ContextService/Recal " in p for p in _problems(report, "AUTHZ_PATH"))


def test_a_principal_without_service_account_fails(broken_repo: Path) -> None:
    path = broken_repo / "mesh/k8s/base/services/ingest.yaml"
    _edit(
        path,
        lambda t: t.replace("cluster.local/ns/omega/sa/shadow", "cluster.local/ns/omega/sa/shadw"),
    )
    report = check.run(broken_repo, SCHEMAS)
    assert any("sa/shadw" in p for p in _problems(report, "AUTHZ_PRINCIPAL"))


def test_a_missing_pod_disruption_budget_fails(broken_repo: Path) -> None:
    path = broken_repo / "mesh/k8s/base/services/federation-core.yaml"
    _edit(path, lambda t: _drop_document(t, "PodDisruptionBudget"))
    report = check.run(broken_repo, SCHEMAS)
    found = _problems(report, "PDB_MISSING")
    assert len(found) == 2 and all("Deployment/federation-core" in p for p in found)


def test_a_missing_limit_fails(broken_repo: Path) -> None:
    path = broken_repo / "mesh/k8s/overlays/prod/kustomization.yaml"
    patch = (
        "patches:\n  - target: {kind: Deployment, name: orchestrator}\n    patch: |-\n"
        "      - op: remove\n"
        "        path: /spec/template/spec/containers/0/resources/limits\n"
    )
    _edit(path, lambda t: t + patch)
    report = check.run(broken_repo, SCHEMAS)
    found = _problems(report, "RESOURCES")
    assert found and all(p.startswith("[RESOURCES] prod: Deployment/orchestrator") for p in found)


def test_latest_image_in_prod_fails_but_not_in_dev(broken_repo: Path) -> None:
    for overlay in ("dev", "prod"):
        path = broken_repo / f"mesh/k8s/overlays/{overlay}/kustomization.yaml"
        _edit(path, lambda t: re.sub(r"newTag: .*", "newTag: latest", t))
    report = check.run(broken_repo, SCHEMAS)
    found = _problems(report, "IMAGE_TAG")
    assert found and all(p.startswith("[IMAGE_TAG] prod:") for p in found)


def test_an_unknown_core_field_fails(broken_repo: Path) -> None:
    path = broken_repo / "mesh/k8s/base/services/gateway.yaml"
    _edit(path, lambda t: t.replace("  revisionHistoryLimit: 5", "  revisionHistoryLimits: 5"))
    report = check.run(broken_repo, SCHEMAS)
    assert any(
        "Deployment/gateway" in p and "revisionHistoryLimits" in p
        for p in _problems(report, "SCHEMA")
    )


def test_a_kustomize_error_is_reported(broken_repo: Path) -> None:
    path = broken_repo / "mesh/k8s/base/kustomization.yaml"
    _edit(path, lambda t: t.replace("  - teams/analytics.yaml", "  - teams/missing.yaml"))
    report = check.run(broken_repo, SCHEMAS)
    assert {p.where for p in report.problems if p.rule == "RENDER"} == {"dev", "prod"}


def test_a_bicep_module_missing_a_required_param_fails(broken_repo: Path) -> None:
    path = broken_repo / "mesh/azure/main.bicep"
    _edit(path, lambda t: t.replace("    auditRetentionDays: auditRetentionDays\n", ""))
    report = check.Report()
    check.check_bicep(broken_repo / "mesh" / "azure", report)
    assert any(
        "storage misses required param auditRetentionDays" in p for p in _problems(report, "BICEP")
    )


def test_a_bicep_param_file_setting_an_unknown_param_fails(broken_repo: Path) -> None:
    path = broken_repo / "mesh/azure/main.prod.bicepparam"
    _edit(path, lambda t: t + "param nodeCount = 3\n")
    report = check.Report()
    check.check_bicep(broken_repo / "mesh" / "azure", report)
    assert any("sets nodeCount" in p for p in _problems(report, "BICEP"))


def test_a_bicep_reference_to_a_missing_output_fails(broken_repo: Path) -> None:
    path = broken_repo / "mesh/azure/main.bicep"
    _edit(
        path, lambda t: t.replace("identities.outputs.appsClientId", "identities.outputs.clientId")
    )
    report = check.Report()
    check.check_bicep(broken_repo / "mesh" / "azure", report)
    assert any("identities.outputs.clientId" in p for p in _problems(report, "BICEP"))


def test_a_root_dockerfile_fails(broken_repo: Path) -> None:
    _edit(broken_repo / "Dockerfile", lambda t: t.replace("USER 10001:10001", "USER root"))
    report = check.Report()
    check.check_dockerfile(broken_repo / "Dockerfile", report)
    assert _problems(report, "DOCKERFILE")


def test_main_lists_problems_and_exits_one(
    broken_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = broken_repo / "mesh/k8s/base/teams/triage.yaml"
    _edit(path, lambda t: t.replace("runAsUser: 10001", "runAsUser: 0", 1))
    assert check.main(["--repo", str(broken_repo), "--schemas", str(SCHEMAS)]) == 1
    out = capsys.readouterr().out
    assert "problem [RUN_AS_ROOT] dev: Deployment/triage" in out


def test_missing_schemas_exit_two(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert check.main(["--repo", str(REPO), "--schemas", str(tmp_path / "none")]) == 2
    assert "CRD schemas not found" in capsys.readouterr().err


def test_missing_kubectl_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert check.main(["--repo", str(REPO), "--schemas", str(SCHEMAS)]) == 2
    assert "install" in capsys.readouterr().err
