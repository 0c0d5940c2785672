"""The Kubernetes manifests in deploy/k8s: parsed, checked for the keys operators rely on,
validated against the Kubernetes schemas, and applied with ``kubectl --dry-run=client``."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml")

K8S_DIR = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
# Named `Kustomization` (a name kustomize accepts) rather than kustomization.yaml, so that
# `kubectl apply -f deploy/k8s/` does not try to apply it as an object.
KUSTOMIZATION = K8S_DIR / "Kustomization"
KUBERNETES_VERSION = "1.32"

Manifest = dict[str, Any]


def _resource_files() -> list[Path]:
    kustomization = yaml.safe_load(KUSTOMIZATION.read_text())
    return [K8S_DIR / name for name in kustomization["resources"]]


@pytest.fixture(scope="module")
def manifests() -> list[Manifest]:
    docs: list[Manifest] = []
    for path in _resource_files():
        docs.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return docs


def _one(manifests: list[Manifest], kind: str, name: str | None = None) -> Manifest:
    found = [
        m
        for m in manifests
        if m["kind"] == kind and (name is None or m["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


@pytest.fixture(scope="module")
def api_pod(manifests: list[Manifest]) -> Manifest:
    pod_spec: Manifest = _one(manifests, "Deployment")["spec"]["template"]["spec"]
    return pod_spec


@pytest.fixture(scope="module")
def api_container(api_pod: Manifest) -> Manifest:
    containers = api_pod["containers"]
    assert len(containers) == 1
    container: Manifest = containers[0]
    return container


def test_kustomization_lists_every_manifest() -> None:
    on_disk = {p.name for p in K8S_DIR.glob("*.y*ml")}
    assert {p.name for p in _resource_files()} == on_disk


def test_every_kind_is_present(manifests: list[Manifest]) -> None:
    kinds = sorted(m["kind"] for m in manifests)
    assert kinds == [
        "ConfigMap",
        "Deployment",
        "HorizontalPodAutoscaler",
        "Service",
        "Service",
        "StatefulSet",
    ]


def test_deployment_asks_for_one_gpu_and_sets_requests(api_container: Manifest) -> None:
    resources = api_container["resources"]
    assert resources["limits"]["nvidia.com/gpu"] == 1
    assert {"cpu", "memory"} <= set(resources["requests"])


def test_probes_use_the_health_endpoints(api_container: Manifest) -> None:
    port = api_container["ports"][0]
    assert port["containerPort"] == 8000
    for probe, path in [("readinessProbe", "/health/ready"), ("livenessProbe", "/health/live")]:
        get = api_container[probe]["httpGet"]
        assert get["path"] == path
        assert get["port"] in (port["name"], port["containerPort"])


def test_pod_runs_as_non_root_on_a_read_only_root(
    api_pod: Manifest, api_container: Manifest
) -> None:
    assert api_pod["securityContext"]["runAsNonRoot"] is True
    assert api_pod["securityContext"]["runAsUser"] != 0
    context = api_container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]


def test_writable_paths_are_empty_dirs(api_pod: Manifest, api_container: Manifest) -> None:
    volumes = {v["name"]: v for v in api_pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in api_container["volumeMounts"]}
    assert {"/var/lib/nmt", "/tmp"} <= set(mounts)
    for path in ("/var/lib/nmt", "/tmp"):
        assert "emptyDir" in volumes[mounts[path]]


def test_settings_come_from_the_configmap(
    manifests: list[Manifest], api_container: Manifest
) -> None:
    config = _one(manifests, "ConfigMap")
    refs = [e["configMapRef"]["name"] for e in api_container["envFrom"]]
    assert refs == [config["metadata"]["name"]]
    data = config["data"]
    assert all(key.startswith("NMT_") for key in data)
    assert all(isinstance(value, str) for value in data.values())
    assert data["NMT_STORE_PATH"].startswith("/var/lib/nmt/")
    redis_service = _one(manifests, "Service", "redis")
    assert data["NMT_REDIS_URL"] == (
        f"redis://{redis_service['metadata']['name']}:{redis_service['spec']['ports'][0]['port']}/0"
    )


def test_service_selects_the_api_pods(manifests: list[Manifest]) -> None:
    deployment = _one(manifests, "Deployment")
    service = _one(manifests, "Service", "nmt-api")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] in ("http", 8000)


def test_redis_keeps_its_data_on_a_claimed_volume(manifests: list[Manifest]) -> None:
    statefulset = _one(manifests, "StatefulSet", "redis")
    headless = _one(manifests, "Service", statefulset["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    claims = {c["metadata"]["name"] for c in statefulset["spec"]["volumeClaimTemplates"]}
    container = statefulset["spec"]["template"]["spec"]["containers"][0]
    assert {m["name"] for m in container["volumeMounts"]} <= claims
    assert "--appendonly" in container["args"]
    assert container["readinessProbe"]["exec"]["command"] == ["redis-cli", "ping"]


def test_hpa_scales_the_deployment_on_cpu(manifests: list[Manifest]) -> None:
    hpa = _one(manifests, "HorizontalPodAutoscaler")
    deployment = _one(manifests, "Deployment")
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == (
        deployment["apiVersion"],
        "Deployment",
        deployment["metadata"]["name"],
    )
    assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]


# --- schema checks ------------------------------------------------------------------------

_NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"}
_OBJECT_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata"],
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": _NAME,
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
    },
}
_CONTAINER = {
    "type": "object",
    "required": ["name", "image"],
    "properties": {"name": _NAME, "image": {"type": "string", "minLength": 1}},
}
_POD_TEMPLATE = {
    "type": "object",
    "required": ["metadata", "spec"],
    "properties": {
        "spec": {
            "type": "object",
            "required": ["containers"],
            "properties": {"containers": {"type": "array", "minItems": 1, "items": _CONTAINER}},
        }
    },
}
_WORKLOAD_SPEC = {
    "type": "object",
    "required": ["selector", "template"],
    "properties": {"replicas": {"type": "integer", "minimum": 1}, "template": _POD_TEMPLATE},
}
# Minimal schemas of the kinds used here: the keys without which the API server would
# refuse the object. The full check is test_manifests_match_the_kubernetes_schemas.
_KIND_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("v1", "ConfigMap"): {
        "properties": {
            "data": {"type": "object", "additionalProperties": {"type": "string"}},
        }
    },
    ("v1", "Service"): {
        "required": ["spec"],
        "properties": {"spec": {"type": "object", "required": ["selector", "ports"]}},
    },
    ("apps/v1", "Deployment"): {"required": ["spec"], "properties": {"spec": _WORKLOAD_SPEC}},
    ("apps/v1", "StatefulSet"): {
        "required": ["spec"],
        "properties": {
            "spec": {**_WORKLOAD_SPEC, "required": ["selector", "template", "serviceName"]}
        },
    },
    ("autoscaling/v2", "HorizontalPodAutoscaler"): {
        "required": ["spec"],
        "properties": {
            "spec": {
                "type": "object",
                "required": ["scaleTargetRef", "maxReplicas"],
                "properties": {"maxReplicas": {"type": "integer", "minimum": 1}},
            }
        },
    },
}


def test_manifests_match_minimal_schemas(manifests: list[Manifest]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    for manifest in manifests:
        key = (manifest["apiVersion"], manifest["kind"])
        assert key in _KIND_SCHEMAS, f"unexpected {key}"
        jsonschema.validate(manifest, {"allOf": [_OBJECT_SCHEMA, _KIND_SCHEMAS[key]]})


def test_manifests_match_the_kubernetes_schemas(manifests: list[Manifest]) -> None:
    """Strict validation (unknown fields are errors) against the OpenAPI-derived schemas
    that the kubernetes-validate package ships for each Kubernetes version."""
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="pip install kubernetes-validate for the full schema check"
    )
    for manifest in manifests:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


# --- kubectl apply --dry-run=client -------------------------------------------------------
#
# Even a client-side dry run asks an API server which kinds exist (discovery), and
# --validate also downloads its OpenAPI document. No cluster is reachable here, so a stub
# API server on the loopback answers discovery for the built-in kinds the manifests use and
# says 404 for every object. kubectl then parses each manifest, maps apiVersion/kind to a
# REST resource (a wrong kind or group/version fails here), looks the object up and prints
# what it would create. Field-level checks are the schema tests' job (--validate=false).

_DISCOVERY: dict[str, list[tuple[str, str, bool]]] = {
    "v1": [
        ("configmaps", "ConfigMap", True),
        ("services", "Service", True),
        ("secrets", "Secret", True),
        ("namespaces", "Namespace", False),
    ],
    "apps/v1": [("deployments", "Deployment", True), ("statefulsets", "StatefulSet", True)],
    "autoscaling/v2": [("horizontalpodautoscalers", "HorizontalPodAutoscaler", True)],
}
_VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]


def _discovery_document(path: str) -> dict[str, Any] | None:
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
    if path == "/apis":
        groups = []
        for group_version in _DISCOVERY:
            if "/" in group_version:
                group, version = group_version.split("/")
                entry = {"groupVersion": group_version, "version": version}
                groups.append({"name": group, "versions": [entry], "preferredVersion": entry})
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
    if path == "/version":
        return {"major": "1", "minor": KUBERNETES_VERSION.split(".")[1], "gitVersion": "v1.32.0"}
    group_version = path.removeprefix("/api/").removeprefix("/apis/")
    if path.startswith(("/api/", "/apis/")) and group_version in _DISCOVERY:
        resources = [
            {"name": name, "singularName": "", "namespaced": ns, "kind": kind, "verbs": _VERBS}
            for name, kind, ns in _DISCOVERY[group_version]
        ]
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": group_version,
            "resources": resources,
        }
    return None


class _StubAPIServer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        document = _discovery_document(self.path.split("?")[0])
        status = 200
        if document is None:
            status = 404
            document = {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "reason": "NotFound",
                "code": 404,
            }
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl not installed: apt-get install kubectl")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StubAPIServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    path = tmp_path_factory.mktemp("kube") / "config"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "stub", "cluster": {"server": f"http://{host!s}:{port}"}}],
                "users": [{"name": "stub", "user": {}}],
                "contexts": [
                    {"name": "stub", "context": {"cluster": "stub", "user": "stub"}},
                ],
                "current-context": "stub",
            }
        )
    )
    yield path
    server.shutdown()
    server.server_close()


def _kubectl_dry_run(kubeconfig: Path, *args: str) -> list[str]:
    result = subprocess.run(
        [
            "kubectl",
            "--kubeconfig",
            str(kubeconfig),
            "--cache-dir",
            str(kubeconfig.parent / "cache"),
            "apply",
            "--dry-run=client",
            "--validate=false",
            "-o",
            "name",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return sorted(result.stdout.split())


def _expected_names(manifests: list[Manifest]) -> list[str]:
    groups = {"v1": "", "apps/v1": ".apps", "autoscaling/v2": ".autoscaling"}
    return sorted(
        f"{m['kind'].lower()}{groups[m['apiVersion']]}/{m['metadata']['name']}" for m in manifests
    )


def test_kubectl_dry_run_applies_the_directory(kubeconfig: Path, manifests: list[Manifest]) -> None:
    assert _kubectl_dry_run(kubeconfig, "-f", str(K8S_DIR)) == _expected_names(manifests)


def test_kubectl_dry_run_applies_the_kustomization(
    kubeconfig: Path, manifests: list[Manifest]
) -> None:
    assert _kubectl_dry_run(kubeconfig, "-k", str(K8S_DIR)) == _expected_names(manifests)
