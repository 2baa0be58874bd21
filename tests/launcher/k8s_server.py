"""Objects shaped as the Kubernetes API server returns them, and the checks it applies on create.

`read_back_job` turns a Job manifest into what `kubectl get job -o yaml` (and
the client's read_namespaced_job) gives back after `kubectl apply`: every field
the server populates filled in (ObjectMeta's uid, resourceVersion, generation,
creationTimestamp, managedFields, the last-applied annotation; the generated
selector and the Job controller's four labels on the pod template; defaults
the server applies to pod specs; a suspended Job's status). `read_back_tfjob`
does the same for a TFJob through the custom objects API.

`reject_like_the_server` raises the 422 the API server returns for a Job whose
pod template carries controller labels of another job, or that sets a
selector without manualSelector (kubernetes pkg/registry/batch/job/strategy.go,
pkg/apis/batch/validation).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from kubernetes import client

CONTROLLER_LABELS = ("batch.kubernetes.io/controller-uid", "batch.kubernetes.io/job-name", "controller-uid", "job-name")
_CREATED = "2026-11-20T03:00:00Z"


def _fill_server_metadata(obj: dict[str, Any], namespace: str, uid: str, resource_version: str) -> None:
    """The ObjectMeta fields the API server sets on create, as `kubectl get -o yaml` shows them after an apply."""
    obj["metadata"].update(
        namespace=namespace,
        uid=uid,
        resourceVersion=resource_version,
        generation=1,
        creationTimestamp=_CREATED,
        managedFields=_managed_fields(obj["apiVersion"], "kubectl-client-side-apply"),
    )


def _managed_fields(api_version: str, manager: str) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": api_version,
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:annotations": {".": {}}}, "f:spec": {"f:template": {}}},
            "manager": manager,
            "operation": "Update",
            "time": _CREATED,
        }
    ]


def _server_pod_defaults(pod: dict[str, Any]) -> None:
    spec = pod["spec"]
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    for container in spec.get("containers", []):
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
    pod.setdefault("metadata", {})["creationTimestamp"] = None


def read_back_job(manifest: dict[str, Any], namespace: str, uid: str) -> dict[str, Any]:
    """The Job as the server returns it on GET after it was applied from `manifest`."""
    job = copy.deepcopy(manifest)
    name = job["metadata"]["name"]
    controller = {
        "batch.kubernetes.io/controller-uid": uid,
        "batch.kubernetes.io/job-name": name,
        "controller-uid": uid,
        "job-name": name,
    }
    _fill_server_metadata(job, namespace, uid, "48213")
    job["metadata"]["labels"] = {**job["metadata"].get("labels", {}), **controller}
    job["metadata"].setdefault("annotations", {})["kubectl.kubernetes.io/last-applied-configuration"] = json.dumps(
        manifest
    )
    spec = job["spec"]
    spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    spec.setdefault("manualSelector", None)
    template = spec["template"]
    _server_pod_defaults(template)
    template["metadata"]["labels"] = {**template["metadata"].get("labels", {}), **controller}
    job["status"] = {
        "conditions": [
            {
                "type": "Suspended",
                "status": "True",
                "reason": "JobSuspended",
                "message": "Job suspended",
                "lastProbeTime": _CREATED,
                "lastTransitionTime": _CREATED,
            }
        ],
        "ready": 0,
        "terminating": 0,
        "uncountedTerminatedPods": {},
    }
    return job


def read_back_tfjob(manifest: dict[str, Any], namespace: str, uid: str) -> dict[str, Any]:
    """The TFJob as the custom objects API returns it after it was applied from `manifest`."""
    tfjob = copy.deepcopy(manifest)
    _fill_server_metadata(tfjob, namespace, uid, "48377")
    _server_pod_defaults(tfjob["spec"]["tfReplicaSpecs"]["Worker"]["template"])
    tfjob["status"] = {
        "conditions": [
            {
                "type": "Suspended",
                "status": "True",
                "reason": "TFJobSuspended",
                "message": "TFJob train-workers is suspended.",
                "lastUpdateTime": _CREATED,
                "lastTransitionTime": _CREATED,
            }
        ],
        "replicaStatuses": {"Worker": {}},
    }
    return tfjob


def as_client_job(job: dict[str, Any]) -> client.V1Job:
    """The client's V1Job for a GET response body, deserialised the way the client does it."""

    class _Response:
        data = json.dumps(job)

    return client.ApiClient().deserialize(_Response(), "V1Job")


def reject_like_the_server(manifest: dict[str, Any], uid: str) -> None:
    """Raises ApiException(422) where the API server would refuse to create this Job."""
    name = manifest["metadata"]["name"]
    spec = manifest["spec"]
    problems = []
    if spec.get("selector") and not spec.get("manualSelector"):
        problems.append("spec.selector: Invalid value: `selector` will be auto-generated")
    labels = spec["template"].get("metadata", {}).get("labels", {})
    expected = {"batch.kubernetes.io/controller-uid": uid, "controller-uid": uid}
    expected.update({"batch.kubernetes.io/job-name": name, "job-name": name})
    for key, value in expected.items():
        if key in labels and labels[key] != value:
            problems.append(
                f"spec.template.metadata.labels: Invalid value: {key}={labels[key]}: "
                "`selector` does not match template `labels`"
            )
    for key in ("uid", "resourceVersion"):
        if manifest["metadata"].get(key):
            problems.append(f"metadata.{key}: set by the server on create")
    if problems:
        raise client.ApiException(status=422, reason=f'Job.batch "{name}" is invalid: ' + "; ".join(problems))


def server_owned(manifest: Any, path: str = "") -> list[str]:
    """Paths in a manifest of fields only the server or a controller sets: none may be in what we create."""
    found = []
    if isinstance(manifest, dict):
        for key, value in manifest.items():
            where = f"{path}.{key}" if path else key
            if key in ("uid", "resourceVersion", "managedFields", "creationTimestamp", "generation", "status"):
                found.append(where)
            elif key == "selector" and path.endswith("spec") and manifest.get("template") is not None:
                found.append(where)
            elif key == "labels":
                found += [f"{where}.{label}" for label in value if label in CONTROLLER_LABELS]
            found += server_owned(value, where)
    elif isinstance(manifest, list):
        for index, item in enumerate(manifest):
            found += server_owned(item, f"{path}[{index}]")
    return found
