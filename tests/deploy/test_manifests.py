"""k8s/: every overlay renders, validates strictly, passes checkov and our container policy."""

from __future__ import annotations

import pathlib
import shutil

import pytest
import yaml

from launcher import cluster, kubernetes
from launcher.kubernetes import plan_launch
from launcher.settings import KubernetesSettings
from launcher.spec import WorkerSpec
from pipelines import config as config_lib
from tests.deploy import checks

pytestmark = pytest.mark.deploy

K8S = checks.REPO_ROOT / "k8s"
IMAGE_NAME = "tfx-pipeline"


@pytest.fixture(scope="module", params=checks.OVERLAYS)
def rendered(request) -> tuple[str, list[dict]]:
    return request.param, checks.render(K8S / "overlays" / request.param)


@pytest.fixture(scope="module")
def tfjob_schema() -> dict:
    return checks.tfjob_schema()


def _by_name(docs, kind: str, name: str) -> dict:
    (found,) = [doc for doc in docs if doc["kind"] == kind and doc["metadata"]["name"] == name]
    return found


def reference_errors(docs: list[dict], source: str) -> list[str]:
    """Pods must only name claims, config maps and service accounts the overlay defines."""
    defined = {(doc["kind"], doc["metadata"]["name"]) for doc in docs}
    problems = []
    for doc in docs:
        for path, pod in checks.pod_specs(doc):
            wanted = [("ServiceAccount", pod.get("serviceAccountName", "default"), f"{path}.serviceAccountName")]
            for index, volume in enumerate(pod.get("volumes", [])):
                if "persistentVolumeClaim" in volume:
                    wanted.append(
                        (
                            "PersistentVolumeClaim",
                            volume["persistentVolumeClaim"]["claimName"],
                            f"{path}.volumes[{index}].persistentVolumeClaim.claimName",
                        )
                    )
                if "configMap" in volume:
                    wanted.append(("ConfigMap", volume["configMap"]["name"], f"{path}.volumes[{index}].configMap.name"))
            problems += [
                f"{source}: {checks.object_name(doc)}: {field}: {kind} {name!r} is not defined"
                for kind, name, field in wanted
                if (kind, name) not in defined
            ]
    return problems


def test_every_object_passes_strict_validation(rendered, tfjob_schema):
    overlay, docs = rendered
    errors = [error for doc in docs for error in checks.schema_errors(doc, f"k8s/overlays/{overlay}", tfjob_schema)]
    assert errors == []
    kinds = {doc["kind"] for doc in docs}
    assert {
        "Namespace",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "PersistentVolumeClaim",
        "ConfigMap",
        "NetworkPolicy",
        "Deployment",
        "Service",
        "CronJob",
        "Job",
    } <= kinds
    assert all(doc["metadata"].get("namespace") == "tfx-pipeline" for doc in docs if doc["kind"] != "Namespace")


def test_every_container_follows_the_policy(rendered):
    overlay, docs = rendered
    assert [error for doc in docs for error in checks.policy_violations(doc, f"k8s/overlays/{overlay}")] == []


def test_the_namespace_enforces_the_restricted_pod_security_standard_and_every_pod_meets_it(rendered):
    overlay, docs = rendered
    (namespace,) = [doc for doc in docs if doc["kind"] == "Namespace"]
    labels = namespace["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted", mode
    assert [error for doc in docs for error in checks.restricted_violations(doc, f"k8s/overlays/{overlay}")] == []


def test_the_restricted_check_finds_what_the_api_server_would_refuse():
    pod = {
        "hostNetwork": True,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "volumes": [{"name": "host", "hostPath": {"path": "/var"}}],
        "containers": [
            {
                "name": "c",
                "ports": [{"containerPort": 80, "hostPort": 80}],
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "runAsUser": 0,
                    "capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN"]},
                },
            }
        ],
    }
    found = checks.restricted_violations({"kind": "Pod", "metadata": {"name": "p"}, "spec": pod}, "test")
    assert len(found) == 5, found
    for expected in ("hostNetwork", "hostPath", "hostPort", "runAsUser", "NET_ADMIN"):
        assert any(expected in problem for problem in found), expected


def test_pods_only_reference_what_the_overlay_defines(rendered):
    overlay, docs = rendered
    assert reference_errors(docs, f"k8s/overlays/{overlay}") == []


def test_checkov_finds_nothing(tmp_path):
    for overlay in checks.OVERLAYS:
        checks.write_documents(checks.render(K8S / "overlays" / overlay), tmp_path / f"{overlay}.yaml")
    assert checks.checkov_failures(tmp_path, "kubernetes") == []


def test_launcher_role_is_least_privilege(rendered):
    _, docs = rendered
    role = _by_name(docs, "Role", "tfx-launcher")
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert not any("*" in item for entry in granted for item in entry), "no wildcards"
    assert {verb for _, resource, verb in granted if resource == "pods"} == {"get", "list", "watch"}
    assert ("", "secrets", "get") not in granted and not any(resource == "secrets" for _, resource, _ in granted)
    assert ("batch", "jobs", "create") in granted and ("", "pods/log", "get") in granted
    # RBAC cannot say "only the objects you made": the admission policy does, for each type it may delete.
    policy = _by_name(docs, "ValidatingAdmissionPolicy", "tfx-launcher-only-its-launches")
    (condition,) = policy["spec"]["matchConditions"]
    assert "':tfx-launcher'" in condition["expression"], "it applies to the launcher's requests"
    covered = {
        (group, resource, operation)
        for rule in policy["spec"]["matchConstraints"]["resourceRules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for operation in rule["operations"]
    }
    writes = {"create": "CREATE", "patch": "UPDATE", "update": "UPDATE", "delete": "DELETE"}
    needed = {(group, resource, writes[verb]) for group, resource, verb in granted if verb in writes}
    assert needed <= covered, f"writes the Role grants but the policy does not narrow: {needed - covered}"
    (validation,) = policy["spec"]["validations"]
    for label in (kubernetes.RUN_LABEL, kubernetes.JOB_LABEL):
        assert f"'{label}' in variables.labels" in validation["expression"]
    template = _by_name(docs, "Job", "train-workers")
    assert kubernetes.JOB_LABEL not in template["metadata"].get("labels", {}), "the template is not the launcher's"
    policy_binding = _by_name(docs, "ValidatingAdmissionPolicyBinding", "tfx-launcher-only-its-launches")
    assert policy_binding["spec"]["validationActions"] == ["Deny"]
    assert policy_binding["spec"]["matchResources"]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": binding_namespace(docs)
    }
    binding = _by_name(docs, "RoleBinding", "tfx-launcher")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "tfx-launcher", "namespace": "tfx-pipeline"}]
    cron = _by_name(docs, "CronJob", "pipeline-run")
    assert cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["serviceAccountName"] == "tfx-launcher"


def binding_namespace(docs: list[dict]) -> str:
    return _by_name(docs, "RoleBinding", "tfx-launcher")["metadata"]["namespace"]


def test_only_the_launcher_mounts_an_api_token(rendered):
    _, docs = rendered
    with_token = [
        checks.object_name(doc)
        for doc in docs
        for _, pod in checks.pod_specs(doc)
        if pod.get("automountServiceAccountToken") is not False
    ]
    assert with_token == ["CronJob/pipeline-run"]


def test_images_are_the_one_skaffold_builds(rendered):
    _, docs = rendered
    skaffold = yaml.safe_load((checks.REPO_ROOT / "skaffold.yaml").read_text())
    assert [artifact["image"] for artifact in skaffold["build"]["artifacts"]] == [IMAGE_NAME]
    assert {image.split(":")[0] for image in checks.images(docs)} == {IMAGE_NAME}


def test_prod_puts_workers_on_gpu_and_tpu_nodes_and_dev_does_not():
    prod = checks.render(K8S / "overlays" / "prod")
    gpu = _by_name(prod, "Job", "train-workers")["spec"]["template"]["spec"]
    assert "cloud.google.com/gke-accelerator" in gpu["nodeSelector"]
    assert gpu["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    tfjob = _by_name(prod, "TFJob", "train-workers")["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]
    assert tfjob["nodeSelector"] == gpu["nodeSelector"]
    tpu = _by_name(prod, "Job", "train-workers-tpu")["spec"]["template"]["spec"]
    assert "cloud.google.com/gke-tpu-accelerator" in tpu["nodeSelector"]
    dev = checks.render(K8S / "overlays" / "dev")
    assert "nodeSelector" not in _by_name(dev, "Job", "train-workers")["spec"]["template"]["spec"]
    assert not any(doc["kind"] == "TFJob" for doc in dev)


def test_worker_templates_are_suspended(rendered):
    _, docs = rendered
    for doc in docs:
        if doc.get("metadata", {}).get("annotations", {}).get("tfx-pipeline/role") == "worker-template":
            suspended = doc["spec"].get("suspend") if doc["kind"] == "Job" else doc["spec"]["runPolicy"]["suspend"]
            assert suspended is True, checks.object_name(doc)


@pytest.mark.parametrize("job_kind", ["indexed_job", "tfjob"])
def test_launcher_jobs_built_from_the_prod_templates_are_valid(job_kind, tfjob_schema):
    prod = checks.render(K8S / "overlays" / "prod")
    kind = "TFJob" if job_kind == "tfjob" else "Job"
    template_object = _by_name(prod, kind, "train-workers")
    template = (
        template_object["spec"]["tfReplicaSpecs"]["Worker"]["template"]
        if kind == "TFJob"
        else template_object["spec"]["template"]
    )
    spec = WorkerSpec(kind="train", function="trainer.task.run_fn", fn_args={"train_files": ["/pipeline/x"]})
    plan = plan_launch(spec, 2, template, KubernetesSettings(job_kind=job_kind), "train-0a1b2c3d", 3600)
    for manifest in plan.manifests:
        labels = manifest["metadata"]["labels"]
        assert kubernetes.RUN_LABEL in labels and kubernetes.JOB_LABEL in labels, "the admission policy admits it"
        assert checks.schema_errors(manifest, "launcher", tfjob_schema) == []
        assert checks.policy_violations(manifest, "launcher") == []
        assert checks.restricted_violations(manifest, "launcher") == []
    pods = [pod for manifest in plan.manifests for _, pod in checks.pod_specs(manifest)]
    assert pods[0]["nodeSelector"] == template["spec"]["nodeSelector"], "the overlay's GPU nodes are kept"
    assert pods[0]["containers"][0]["command"][:4] == ["python", "-m", "launcher.worker", "--spec-json"]
    if job_kind == "indexed_job":
        env = {item["name"] for item in pods[0]["containers"][0]["env"]}
        assert cluster.WORKER_HOSTS_ENV in env and plan.manifests[0]["kind"] == "Job"


def test_the_in_cluster_config_is_valid_and_names_a_template_that_exists():
    config = config_lib.load_config(K8S / "base" / "pipeline-config.yaml", check_local_paths=False)
    assert config.launcher.backend == "kubernetes"
    dev = checks.render(K8S / "overlays" / "dev")
    _by_name(dev, "Job", config.launcher.kubernetes.template)
    assert config.launcher.kubernetes.namespace == "tfx-pipeline"
    assert config.pipeline.root.startswith("/pipeline/") and config.trainer.checkpoint_root.startswith("/pipeline/")
    config_map = _by_name(dev, "ConfigMap", next(d["metadata"]["name"] for d in dev if d["kind"] == "ConfigMap"))
    assert yaml.safe_load(config_map["data"]["config.yaml"]) == yaml.safe_load(
        (K8S / "base" / "pipeline-config.yaml").read_text()
    )


# --- checks that must fail, on a copy of k8s/ broken on purpose -----------------------------------


@pytest.fixture
def k8s_copy(tmp_path) -> pathlib.Path:
    return pathlib.Path(shutil.copytree(K8S, tmp_path / "k8s"))


def _edit(path: pathlib.Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"test setup: {old!r} not in {path}"
    path.write_text(text.replace(old, new))


def test_a_missing_resource_file_fails_rendering_naming_it(k8s_copy):
    (k8s_copy / "base" / "storage.yaml").unlink()
    with pytest.raises(AssertionError) as raised:
        checks.render(k8s_copy / "overlays" / "dev")
    assert "overlays/dev: kubectl kustomize failed" in str(raised.value) and "storage.yaml" in str(raised.value)


def test_a_pod_naming_a_missing_claim_is_caught(k8s_copy):
    _edit(k8s_copy / "base" / "tensorboard.yaml", "claimName: pipeline-data", "claimName: pipeline-dta")
    docs = checks.render(k8s_copy / "overlays" / "dev")
    assert reference_errors(docs, "k8s/overlays/dev") == [
        "k8s/overlays/dev: Deployment/tensorboard: spec.template.spec.volumes[0].persistentVolumeClaim.claimName: "
        "PersistentVolumeClaim 'pipeline-dta' is not defined"
    ]


def test_missing_requests_and_limits_are_caught_by_policy_and_checkov(k8s_copy, tmp_path):
    _edit(
        k8s_copy / "base" / "tensorboard.yaml",
        """          resources:
            requests: {cpu: 250m, memory: 1Gi}
            limits: {cpu: "1", memory: 2Gi}
""",
        "",
    )
    docs = checks.render(k8s_copy / "overlays" / "dev")
    violations = [v for doc in docs for v in checks.policy_violations(doc, "k8s/overlays/dev")]
    assert violations == [
        "k8s/overlays/dev: Deployment/tensorboard: spec.template.spec.containers[0].resources.requests: "
        "missing cpu, memory",
        "k8s/overlays/dev: Deployment/tensorboard: spec.template.spec.containers[0].resources.limits: "
        "missing cpu, memory",
    ]
    failures = checks.checkov_failures(checks.write_documents(docs, tmp_path / "dev.yaml"), "kubernetes")
    assert failures and all(f.startswith("dev.yaml: Deployment.tfx-pipeline.tensorboard: ") for f in failures)
    assert {f.split(": ")[2].split()[0] for f in failures} >= {"CKV_K8S_10", "CKV_K8S_11", "CKV_K8S_12", "CKV_K8S_13"}


def test_a_privileged_container_is_caught_by_policy_and_checkov(k8s_copy, tmp_path):
    _edit(
        k8s_copy / "base" / "pipeline-cronjob.yaml",
        "                allowPrivilegeEscalation: false\n",
        "                allowPrivilegeEscalation: true\n                privileged: true\n",
    )
    docs = checks.render(k8s_copy / "overlays" / "prod")
    violations = [v for doc in docs for v in checks.policy_violations(doc, "k8s/overlays/prod")]
    field = "k8s/overlays/prod: CronJob/pipeline-run: spec.jobTemplate.spec.template.spec.containers[0].securityContext"
    assert violations == [f"{field}.allowPrivilegeEscalation: must be false", f"{field}.privileged: must not be true"]
    failures = checks.checkov_failures(checks.write_documents(docs, tmp_path / "prod.yaml"), "kubernetes")
    assert "prod.yaml: CronJob.tfx-pipeline.pipeline-run: CKV_K8S_16 Container should not be privileged" in failures


def test_dev_seeds_the_sample_data_on_demand_and_prod_runs_nightly():
    dev = _by_name(checks.render(K8S / "overlays" / "dev"), "CronJob", "pipeline-run")
    prod = _by_name(checks.render(K8S / "overlays" / "prod"), "CronJob", "pipeline-run")
    assert dev["spec"]["suspend"] is True and prod["spec"].get("suspend") is not True
    dev_command = " ".join(dev["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"])
    prod_command = prod["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"]
    assert "pipelines.sample_data --config /etc/pipeline/config.yaml" in dev_command
    assert prod_command == ["python", "-m", "pipelines.local_runner", "--config", "/etc/pipeline/config.yaml"]
    assert prod["spec"]["concurrencyPolicy"] == "Forbid"
