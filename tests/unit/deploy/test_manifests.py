"""deploy/: the Kubernetes manifests as kustomize renders them, and the KServe files.

`kubectl kustomize deploy/k8s` renders offline; every object is then checked against the
Kubernetes API schemas bundled in kubernetes-validate (strict: unknown fields are errors), and the
properties a reviewer cares about are asserted on the rendered objects. Nothing here needs a
cluster or the network.

KServe's InferenceService has no schema in kubernetes-validate (it is a CRD): its file is only
parsed and checked for the fields deploy/kserve/README.md promises.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from tools.paths import REPO_ROOT, SERVE_CONFIG_DIR

K8S_DIR = REPO_ROOT / "deploy" / "k8s"
INGRESS_EXAMPLE = K8S_DIR / "ingress-example.yaml"
KSERVE_DIR = REPO_ROOT / "deploy" / "kserve"
UI_PORT = 5000
WORKDIR = "/var/run/torchserve"  # TorchServe's working directory: holds key_file.json
CHECK_READY = ["python", "-m", "tools.torchserve", "--check-ready", "--workdir", WORKDIR]

# The oldest Kubernetes docs/deploy.md supports (the preStop `sleep` action is on by default from
# 1.30) and the newest kubernetes-validate bundles (catches APIs removed since).
KUBERNETES_VERSIONS = ["1.30", "1.37"]

# Without a kubeconfig kubectl falls back to localhost:8080, which is TorchServe's inference port.
# `kubectl kustomize` needs no server; should any code path ever try one, it meets a port that
# refuses at once.
UNREACHABLE_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: none, user: {}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
"""


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The objects `kubectl apply -k deploy/k8s` would send, as rendered by kustomize."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: cannot render deploy/k8s with kustomize")
    kubeconfig = tmp_path_factory.mktemp("kube") / "config"
    kubeconfig.write_text(UNREACHABLE_KUBECONFIG)
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S_DIR)],
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def only(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [found] = [obj for obj in objects if obj["kind"] == kind]
    return found


def pod_spec(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return only(objects, "Deployment")["spec"]["template"]["spec"]


def containers(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in pod_spec(objects)["containers"]}


def pod_labels(objects: list[dict[str, Any]]) -> dict[str, str]:
    return only(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]


def selects_the_pods(selector: dict[str, str], objects: list[dict[str, Any]]) -> bool:
    return bool(selector) and selector.items() <= pod_labels(objects).items()


def schema_errors(objects: list[dict[str, Any]], version: str) -> list[str]:
    """Every object that fails strict validation, or whose kind has no schema, with the reason."""
    errors = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError) as e:
            path = ".".join(str(part) for part in getattr(e, "path", []))
            errors.append(f"{obj['kind']}/{obj['metadata']['name']} {path}: {e.message}")
    return errors


# ---- schema -------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_rendered_objects_pass_strict_schema_validation(rendered, version):
    assert not schema_errors(rendered, version)


def test_the_documented_command_line_passes(tmp_path):
    """`kubectl kustomize deploy/k8s | kubernetes-validate --strict -`, as docs/deploy.md says."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(UNREACHABLE_KUBECONFIG)
    validate = Path(sys.executable).parent / "kubernetes-validate"
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", f"kubectl kustomize {K8S_DIR} | {validate} --strict -"],
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed for resource") == 6, result.stdout


def test_the_validation_is_strict_enough_to_catch_a_typo(rendered):
    """Guards the test above: a misspelt field must fail, not pass silently."""
    deployment = copy.deepcopy(only(rendered, "Deployment"))
    context = deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    context["readOnlyRootFileSystem"] = context.pop("readOnlyRootFilesystem")
    assert schema_errors([deployment], KUBERNETES_VERSIONS[0])


def test_kustomize_renders_exactly_these_objects(rendered):
    assert sorted(obj["kind"] for obj in rendered) == [
        "Deployment",
        "HorizontalPodAutoscaler",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Service",
        "ServiceAccount",
    ]


def test_common_labels_reach_every_object_and_the_pods(rendered):
    for obj in [*rendered, only(rendered, "Deployment")["spec"]["template"]]:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "mnist"
        assert labels["app.kubernetes.io/part-of"] == "digit-reader"


# ---- exposure -----------------------------------------------------------------------------------


def test_only_the_ui_port_is_in_any_service(rendered):
    ui_ports = {p["name"]: p["containerPort"] for p in containers(rendered)["webui"]["ports"]}
    services = [obj for obj in rendered if obj["kind"] == "Service"]
    assert [s["metadata"]["name"] for s in services] == ["mnist-webui"]
    [port] = services[0]["spec"]["ports"]
    assert port["port"] == 80
    assert ui_ports.get(port["targetPort"], port["targetPort"]) == UI_PORT
    assert selects_the_pods(services[0]["spec"]["selector"], rendered)


def test_torchserve_listens_on_loopback_and_declares_no_ports(rendered):
    torchserve = containers(rendered)["torchserve"]
    args = torchserve["args"]
    assert args[args.index("--bind-address") + 1] == "127.0.0.1"
    assert args[args.index("--workdir") + 1] == WORKDIR
    assert "--model-store" in args  # `args` replaces the image's CMD: the flags must all be here
    assert "ports" not in torchserve


def test_network_policy_admits_only_the_ui_port_and_lets_out_only_postgresql_and_dns(rendered):
    policy = only(rendered, "NetworkPolicy")["spec"]
    assert selects_the_pods(policy["podSelector"]["matchLabels"], rendered)
    assert sorted(policy["policyTypes"]) == ["Egress", "Ingress"]
    assert policy["ingress"], "no ingress rule: the UI would be unreachable"
    for rule in policy["ingress"]:
        # A rule without `ports` admits every port.
        assert rule["ports"] == [{"port": UI_PORT, "protocol": "TCP"}]
    # Each egress rule names both its peers and its ports (a rule without either allows all).
    allowed = {
        (peer["podSelector"]["matchLabels"].get("app.kubernetes.io/name")
         or peer["podSelector"]["matchLabels"]["k8s-app"], port["port"], port["protocol"])
        for rule in policy["egress"]
        for peer in rule["to"]
        for port in rule["ports"]
    }  # fmt: skip
    assert allowed == {
        ("postgresql", 5432, "TCP"),
        ("kube-dns", 53, "UDP"),
        ("kube-dns", 53, "TCP"),
    }
    assert all("ipBlock" not in peer for rule in policy["egress"] for peer in rule["to"])


# ---- the two containers -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["torchserve", "webui"])
def test_every_container_has_requests_limits_and_three_probes(rendered, name):
    container = containers(rendered)[name]
    for bound in ("requests", "limits"):
        assert set(container["resources"][bound]) == {"cpu", "memory"}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert probe in container


@pytest.mark.parametrize("name", ["torchserve", "webui"])
def test_every_container_runs_locked_down(rendered, name):
    context = containers(rendered)[name]["securityContext"]
    assert context["runAsNonRoot"] is True
    assert (context["runAsUser"], context["runAsGroup"]) == (10001, 10001)
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}


def test_the_pod_runs_as_10001_without_an_api_token(rendered):
    spec = pod_spec(rendered)
    context = spec["securityContext"]
    assert context["runAsNonRoot"] is True
    assert (context["runAsUser"], context["runAsGroup"], context["fsGroup"]) == (10001,) * 3
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    account = only(rendered, "ServiceAccount")
    assert spec["serviceAccountName"] == account["metadata"]["name"]
    assert account["automountServiceAccountToken"] is False


def test_every_writable_mount_is_an_emptydir(rendered):
    volumes = {v["name"]: v for v in pod_spec(rendered)["volumes"]}
    assert all("emptyDir" in volume for volume in volumes.values())
    mounts = {
        (name, m["mountPath"]): m.get("readOnly", False)
        for name, container in containers(rendered).items()
        for m in container["volumeMounts"]
    }
    writable = {mount for mount, read_only in mounts.items() if not read_only}
    assert writable == {("torchserve", WORKDIR), ("torchserve", "/tmp"), ("webui", "/tmp")}


def test_the_ui_reads_the_key_file_from_torchserve_workdir_read_only(rendered):
    by_name = containers(rendered)
    env = {e["name"]: e.get("value") for e in by_name["webui"]["env"]}
    key_dir = str(Path(env["WEBUI_KEY_FILE"]).parent)
    assert key_dir == WORKDIR
    ui_mount = next(m for m in by_name["webui"]["volumeMounts"] if m["mountPath"] == key_dir)
    ts_mount = next(m for m in by_name["torchserve"]["volumeMounts"] if m["mountPath"] == WORKDIR)
    assert ui_mount["name"] == ts_mount["name"], "not the same volume: the UI never sees the key"
    assert ui_mount["readOnly"] is True
    assert not ts_mount.get("readOnly", False)


def test_the_ui_talks_to_its_own_torchserve_on_localhost(rendered):
    env = {e["name"]: e.get("value") for e in containers(rendered)["webui"]["env"]}
    url = urlsplit(env["WEBUI_TORCHSERVE_URL"])
    assert (url.scheme, url.hostname, url.port) == ("http", "127.0.0.1", 8080)


FEEDBACK_SECRET_EXAMPLE = K8S_DIR / "feedback-db-secret.example.yaml"


def test_the_corrections_database_url_comes_from_an_optional_secret(rendered):
    env = {e["name"]: e for e in containers(rendered)["webui"]["env"]}
    reference = env["FEEDBACK_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert reference["optional"] is True  # pods start without it
    assert "value" not in env["FEEDBACK_DATABASE_URL"]  # never a URL in the manifests
    # No per-pod SQLite: without the Secret, corrections are refused rather than scattered.
    assert env["WEBUI_FEEDBACK_SQLITE"]["value"] == "false"
    example = yaml.safe_load(FEEDBACK_SECRET_EXAMPLE.read_text())
    assert example["metadata"]["name"] == reference["name"]
    assert urlsplit(example["stringData"][reference["key"]]).scheme == "postgresql"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_secret_example_passes_strict_schema_validation_and_is_not_applied(version):
    assert not schema_errors([yaml.safe_load(FEEDBACK_SECRET_EXAMPLE.read_text())], version)
    kustomization = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
    assert FEEDBACK_SECRET_EXAMPLE.name not in kustomization["resources"]


def test_torchserve_probes_ask_whether_the_model_answers(rendered):
    torchserve = containers(rendered)["torchserve"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert torchserve[probe]["exec"]["command"] == CHECK_READY
        assert torchserve[probe]["timeoutSeconds"] >= 5  # a Python start-up, under a CPU limit
    startup = torchserve["startupProbe"]
    assert 150 <= startup["periodSeconds"] * startup["failureThreshold"] <= 240  # about 3 minutes


def test_ui_probes_use_readyz_and_healthz(rendered):
    webui = containers(rendered)["webui"]
    assert webui["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert webui["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert webui["startupProbe"]["httpGet"]["path"] == "/healthz"


def test_images_are_the_ones_the_project_builds(rendered):
    images = {name: c["image"] for name, c in containers(rendered).items()}
    assert images == {"torchserve": "mnist-torchserve:1.0", "webui": "mnist-webui:1.0"}


# ---- scaling and availability -------------------------------------------------------------------


def test_rollouts_never_drop_below_the_desired_count(rendered):
    deployment = only(rendered, "Deployment")["spec"]
    assert deployment["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    assert "replicas" not in deployment, "the HPA owns the count; apply would reset it"
    assert selects_the_pods(deployment["selector"]["matchLabels"], rendered)


def test_the_hpa_scales_the_deployment_1_to_10_on_cpu(rendered):
    hpa = only(rendered, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "mnist")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 10)
    [metric] = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"


def test_the_disruption_budget_covers_the_pods(rendered):
    budget = only(rendered, "PodDisruptionBudget")["spec"]
    assert selects_the_pods(budget["selector"]["matchLabels"], rendered)
    assert budget["maxUnavailable"] == 1


# ---- the optional Ingress -----------------------------------------------------------------------


def ingress_example() -> dict[str, Any]:
    return yaml.safe_load(INGRESS_EXAMPLE.read_text())


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_ingress_example_passes_strict_schema_validation(version):
    assert not schema_errors([ingress_example()], version)


def test_the_ingress_example_routes_to_the_ui_service(rendered):
    ingress = ingress_example()
    service = only(rendered, "Service")
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["name"] == service["metadata"]["name"]
            assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}


def test_the_ingress_example_is_not_applied_by_default():
    kustomization = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
    assert INGRESS_EXAMPLE.name not in kustomization["resources"]


# ---- KServe (no schema available: parsed and checked for what the README promises) -------------


def read_properties(path: Path) -> dict[str, str]:
    """key=value lines of a Java properties file (comments and blank lines skipped)."""
    lines = (line.strip() for line in path.read_text().splitlines())
    pairs = (line.partition("=") for line in lines if line and not line.startswith(("#", "!")))
    return {key.strip(): value.strip() for key, _, value in pairs}


def test_the_inference_service_selects_torchserve_0_12_with_protocol_v1():
    service = yaml.safe_load((KSERVE_DIR / "inferenceservice.yaml").read_text())
    assert (service["apiVersion"], service["kind"]) == (
        "serving.kserve.io/v1beta1",
        "InferenceService",
    )
    model = service["spec"]["predictor"]["model"]
    assert model["modelFormat"]["name"] == "pytorch"
    assert model["runtimeVersion"] == "0.12.0"  # a string: KServe's default runtime is 0.9.0
    assert model["protocolVersion"] == "v1"
    assert "YOUR-BUCKET" in model["storageUri"]  # a placeholder, never a real bucket
    for bound in ("requests", "limits"):
        assert set(model["resources"][bound]) == {"cpu", "memory"}


def test_kserve_config_has_what_the_wrapper_reads_and_stays_on_loopback():
    config = read_properties(KSERVE_DIR / "config" / "config.properties")
    # KServe's wrapper reads these four keys (a missing one stops it) and always forwards to :8085.
    inference = urlsplit(config["inference_address"])
    assert (inference.hostname, inference.port) == ("127.0.0.1", 8085)
    assert urlsplit(config["management_address"]).hostname == "127.0.0.1"
    assert config["model_store"] == "/mnt/models/model-store"
    snapshot = json.loads(config["model_snapshot"])
    assert snapshot["models"]["mnist"]["1.0"]["marName"] == "mnist.mar"
    # Token authorization off, as KServe's wrapper sends no key (README), so nothing else opens.
    assert config["disable_token_authorization"] == "true"
    assert config["enable_model_api"] == "false"
    assert config["enable_envvars_config"] == "false"  # keeps TS_SERVICE_ENVELOPE out


def test_kserve_config_matches_the_project_config_and_model_config():
    """Only the differences the KServe runtime forces; the worker settings of model-config.yaml."""
    kserve = read_properties(KSERVE_DIR / "config" / "config.properties")
    project = read_properties(SERVE_CONFIG_DIR / "config.properties")
    intended = {
        "inference_address",
        "metrics_address",
        "metrics_config",
        "allowed_urls",
        "disable_token_authorization",
    }
    drift = {key for key in project.keys() & kserve.keys() if project[key] != kserve[key]}
    assert drift == intended
    assert project.keys() - kserve.keys() == {"token_expiration_min"}  # no tokens under KServe
    model_config = yaml.safe_load((SERVE_CONFIG_DIR / "model-config.yaml").read_text())
    snapshot = json.loads(kserve["model_snapshot"])["models"]["mnist"]["1.0"]
    for key in ("minWorkers", "maxWorkers", "batchSize", "maxBatchDelay", "responseTimeout"):
        assert snapshot[key] == model_config[key], key


def test_the_ingress_example_keeps_metrics_and_healthz_inside_the_cluster():
    paths = [
        (path["path"], path["pathType"])
        for rule in ingress_example()["spec"]["rules"]
        for path in rule["http"]["paths"]
    ]

    def routed(url: str) -> bool:
        return any(
            url == prefix
            if kind == "Exact"
            else url == prefix or url.startswith(prefix.rstrip("/") + "/")
            for prefix, kind in paths
        )

    for url in ("/", "/static/js/main.js", "/api/predict", "/api/model", "/readyz"):
        assert routed(url), url  # what the page needs
    for url in ("/metrics", "/healthz"):
        assert not routed(url), url
