"""Checks of the deployment files; every problem is reported as `<file>: <object>: <field>: <what>`.

Used by the deploy tests (`make check-deploy`). The external tools come from
the tools venv (`make test` builds it), kubectl from the machine.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = REPO_ROOT / "tests" / "data"
TOOLS_BIN = pathlib.Path(os.environ.get("TOOLS_BIN", REPO_ROOT / ".venv-tools" / "bin"))
K8S_VERSION = "1.32"
OVERLAYS = ("dev", "prod")


def tool(name: str) -> str:
    """Path of a checker; a clear error when it is not installed."""
    candidate = TOOLS_BIN / name
    found = str(candidate) if candidate.exists() else shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found in {TOOLS_BIN} or on PATH: run `make test` (it installs it)")
    return found


def render(kustomization_dir: pathlib.Path) -> list[dict[str, Any]]:
    """`kubectl kustomize` of a folder, as documents."""
    result = subprocess.run(
        [tool("kubectl"), "kustomize", str(kustomization_dir)], capture_output=True, text=True, timeout=120
    )
    if result.returncode:
        raise AssertionError(f"{kustomization_dir}: kubectl kustomize failed: {result.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def object_name(doc: dict[str, Any]) -> str:
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def schema_errors(doc: dict[str, Any], source: str, tfjob_schema: dict[str, Any]) -> list[str]:
    """Strict Kubernetes 1.32 validation for core kinds, the CRD schema for TFJobs."""
    if doc.get("kind") == "TFJob":
        validator = jsonschema.Draft7Validator(tfjob_schema)
        return [
            f"{source}: {object_name(doc)}: {_path(error.absolute_path)}: {error.message}"
            for error in validator.iter_errors(doc)
        ]
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{source}: {object_name(doc)}: {_path(error.path)}: {error.message}"]
    return []


def tfjob_schema() -> dict[str, Any]:
    crd = yaml.safe_load((DATA / "tfjob-crd-v1.9.yaml").read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return version["schema"]["openAPIV3Schema"]


def pod_specs(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(field path, pod spec) of every pod template in an object."""
    spec = doc.get("spec", {})
    if doc.get("kind") in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
        yield "spec.template.spec", spec.get("template", {}).get("spec", {})
    elif doc.get("kind") == "Pod":
        yield "spec", spec
    elif doc.get("kind") == "CronJob":
        yield "spec.jobTemplate.spec.template.spec", spec["jobTemplate"]["spec"]["template"]["spec"]
    elif doc.get("kind") == "TFJob":
        for replica, replica_spec in spec.get("tfReplicaSpecs", {}).items():
            yield f"spec.tfReplicaSpecs.{replica}.template.spec", replica_spec["template"]["spec"]


def policy_violations(doc: dict[str, Any], source: str) -> list[str]:
    """Our rules for every container: requests and limits, non-root, no escalation, no capabilities,
    RuntimeDefault seccomp, read-only root filesystem."""
    problems = []
    for pod_path, pod in pod_specs(doc):
        pod_context = pod.get("securityContext", {})
        if pod_context.get("runAsNonRoot") is not True:
            problems.append(f"{pod_path}.securityContext.runAsNonRoot: must be true")
        for index, container in enumerate(pod.get("containers", [])):
            where = f"{pod_path}.containers[{index}]"
            resources = container.get("resources", {})
            for kind in ("requests", "limits"):
                missing = {"cpu", "memory"} - set(resources.get(kind, {}))
                if missing:
                    problems.append(f"{where}.resources.{kind}: missing {', '.join(sorted(missing))}")
            context = container.get("securityContext", {})
            expected = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True}
            problems += [
                f"{where}.securityContext.{key}: must be {str(value).lower()}"
                for key, value in expected.items()
                if context.get(key) is not value
            ]
            if context.get("privileged"):
                problems.append(f"{where}.securityContext.privileged: must not be true")
            if "ALL" not in context.get("capabilities", {}).get("drop", []):
                problems.append(f"{where}.securityContext.capabilities.drop: must drop ALL")
            if context.get("seccompProfile", {}).get("type") != "RuntimeDefault":
                problems.append(f"{where}.securityContext.seccompProfile.type: must be RuntimeDefault")
    return [f"{source}: {object_name(doc)}: {problem}" for problem in problems]


# Volume types the `restricted` Pod Security Standard allows
# (kubernetes.io/docs/concepts/security/pod-security-standards).
_RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def restricted_violations(doc: dict[str, Any], source: str) -> list[str]:
    """What Pod Security Admission's `restricted` level (enforced on our namespace) refuses, per pod spec."""
    problems = []
    for pod_path, pod in pod_specs(doc):
        pod_context = pod.get("securityContext", {})
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            if pod.get(key):
                problems.append(f"{pod_path}.{key}: must not be true")
        for volume in pod.get("volumes", []):
            kinds = set(volume) - {"name"}
            if not kinds <= _RESTRICTED_VOLUMES:
                problems.append(f"{pod_path}.volumes[{volume['name']}]: {', '.join(sorted(kinds))} not allowed")
        containers = [
            (f"{pod_path}.{group}[{index}]", container)
            for group in ("initContainers", "containers", "ephemeralContainers")
            for index, container in enumerate(pod.get(group, []))
        ]
        for where, container in containers:
            context = container.get("securityContext", {})
            if context.get("privileged"):
                problems.append(f"{where}.securityContext.privileged: must not be true")
            if context.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}.securityContext.allowPrivilegeEscalation: must be false")
            if context.get("runAsNonRoot", pod_context.get("runAsNonRoot")) is not True:
                problems.append(f"{where}: runAsNonRoot must be true (container or pod)")
            if context.get("runAsUser", pod_context.get("runAsUser")) == 0:
                problems.append(f"{where}: runAsUser must not be 0")
            seccomp = context.get("seccompProfile", pod_context.get("seccompProfile", {})).get("type")
            if seccomp not in ("RuntimeDefault", "Localhost"):
                problems.append(f"{where}: seccompProfile.type must be RuntimeDefault or Localhost")
            capabilities = context.get("capabilities", {})
            if "ALL" not in capabilities.get("drop", []):
                problems.append(f"{where}.securityContext.capabilities.drop: must include ALL")
            added = set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}
            if added:
                problems.append(f"{where}.securityContext.capabilities.add: {', '.join(sorted(added))} not allowed")
            for port in container.get("ports", []):
                if port.get("hostPort"):
                    problems.append(f"{where}.ports: hostPort {port['hostPort']} not allowed")
    return [f"{source}: {object_name(doc)}: {problem}" for problem in problems]


def images(docs: Iterable[dict[str, Any]]) -> set[str]:
    """Every container image the objects reference."""
    return {container["image"] for doc in docs for _, pod in pod_specs(doc) for container in pod.get("containers", [])}


def checkov_failures(path: pathlib.Path, framework: str) -> list[str]:
    """checkov's failed checks on a file or folder, as `<file>: <resource>: <check id> <name>`."""
    target = ["-d", str(path)] if path.is_dir() else ["-f", str(path)]
    result = subprocess.run(
        [tool("checkov"), *target, "--framework", framework, "--skip-download", "--quiet", "--output", "json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode not in (0, 1):
        raise AssertionError(f"checkov could not check {path}: {result.stderr[-2000:]}")
    reports = json.loads(result.stdout or "[]")
    reports = reports if isinstance(reports, list) else [reports]
    base = path if path.is_dir() else path.parent
    return [
        f"{os.path.relpath(check['file_abs_path'], base)}: {check['resource']}: {check['check_id']} "
        f"{check['check_name']}"
        for report in reports
        for check in report.get("results", {}).get("failed_checks", [])
    ]


def hadolint_findings(dockerfile: pathlib.Path) -> list[str]:
    result = subprocess.run(
        [tool("hadolint"), "--no-color", str(dockerfile)], capture_output=True, text=True, timeout=60
    )
    return [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]


def skaffold_errors(path: pathlib.Path) -> list[str]:
    """skaffold.yaml against skaffold's own v4beta14 JSON schema."""
    schema = json.loads((DATA / "skaffold-schema-v4beta14.json").read_text())
    document = yaml.safe_load(path.read_text())
    validator = jsonschema.Draft7Validator(schema)
    # The schema wraps everything in anyOf: the useful messages are the leaves of each error's context.
    leaves = [leaf for error in validator.iter_errors(document) for leaf in _leaf_errors(error)]
    messages = [f"{path.name}: {_path(leaf.absolute_path) or '(top level)'}: {leaf.message}" for leaf in leaves]
    return sorted(set(messages))


def _leaf_errors(error: jsonschema.ValidationError) -> Iterator[jsonschema.ValidationError]:
    if not error.context:
        yield error
        return
    for child in error.context:
        yield from _leaf_errors(child)


def write_documents(docs: Iterable[dict[str, Any]], path: pathlib.Path) -> pathlib.Path:
    path.write_text(yaml.safe_dump_all(list(docs), sort_keys=False))
    return path


def _path(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
