"""Kubernetes backend: workers as a Kubeflow TFJob, or an Indexed Job plus a headless Service.

The worker pod comes from a template in the cluster: the suspended
`train-workers` Job (or TFJob) that k8s/ applies and its overlays patch (image,
resources, GPU/TPU node selectors, volumes, security). `plan_launch` fills a
copy in (pure; validated in tests against the TFJob CRD and Kubernetes' own
schemas); `KubernetesLauncher` fetches the template, creates the job through
the official client, watches it to completion, surfaces pod failures with
their last log lines, and deletes what it created.

Restarts: pods restart in place (restartPolicy OnFailure) up to the job's
backoff limit; a worker that comes back resumes from the latest checkpoint on
the shared volume, as the local backend's restarted group does.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from components.launcher import cluster
from components.launcher.local import WorkerFailedError, WorkerTimeoutError
from components.launcher.settings import KubernetesSettings
from components.launcher.spec import WorkerSpec

__all__ = ["JOB_LABEL", "KubernetesLauncher", "LaunchPlan", "default_apis", "job_name", "plan_launch"]

JOB_LABEL = "tfx-pipeline/job"
_TFJOB = {"group": "kubeflow.org", "version": "v1", "plural": "tfjobs"}
# Waiting reasons that do not heal by waiting: fail at once instead of at the timeout.
_FATAL_WAITING = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError"}
_LOG_TAIL_LINES = 20


@dataclasses.dataclass(frozen=True)
class LaunchPlan:
    """The objects one launch creates, in creation order."""

    kind: str  # "indexed_job" or "tfjob"
    name: str
    namespace: str
    manifests: tuple[dict[str, Any], ...]

    @property
    def selector(self) -> str:
        return f"{JOB_LABEL}={self.name}"


def job_name(purpose: str) -> str:
    """A unique DNS-1123 name short enough for pod hostnames (`<name>-<index>`)."""
    prefix = re.sub(r"[^a-z0-9-]", "-", purpose.lower()).strip("-")[:40] or "job"
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def plan_launch(
    spec: WorkerSpec,
    num_workers: int,
    template: dict[str, Any],
    settings: KubernetesSettings,
    name: str,
    limits: tuple[int, int],
) -> LaunchPlan:
    """The manifests for `num_workers` workers running `spec` (tuning adds the chief oracle).

    Args:
      spec: What every worker runs.
      num_workers: Training workers, or tuners besides the chief oracle.
      template: The pod template (a PodTemplateSpec as a dict) of the cluster's
        `train-workers` Job or TFJob; its first container runs the worker.
      settings: Namespace, job kind and port.
      name: The new job's name (see `job_name`).
      limits: (max_restarts of the worker group, timeout_seconds).
    """
    max_restarts, timeout_seconds = limits
    replicas = num_workers if spec.kind == "train" else num_workers + 1
    labels = {
        JOB_LABEL: name,
        "app.kubernetes.io/part-of": "tfx-distributed-pipeline",
        "app.kubernetes.io/component": f"{spec.kind}-worker",
    }
    # MultiWorkerMirroredStrategy restarts every worker after one fails.
    backoff_limit = max(max_restarts, 0) * replicas
    metadata = {"name": name, "namespace": settings.namespace, "labels": labels}
    if settings.job_kind == "tfjob":
        pod = _fill_pod(template, spec, labels, settings.port, env={})
        tfjob = _manifest(
            f"{_TFJOB['group']}/{_TFJOB['version']}",
            "TFJob",
            metadata,
            {
                "runPolicy": {
                    "cleanPodPolicy": "None",
                    "backoffLimit": backoff_limit,
                    "activeDeadlineSeconds": timeout_seconds,
                },
                "tfReplicaSpecs": {"Worker": {"replicas": replicas, "restartPolicy": "OnFailure", "template": pod}},
            },
        )
        return LaunchPlan("tfjob", name, settings.namespace, (tfjob,))
    hosts = cluster.indexed_job_hosts(name, name, settings.namespace, replicas, settings.port)
    pod = _fill_pod(template, spec, labels, settings.port, env={cluster.WORKER_HOSTS_ENV: ",".join(hosts)})
    pod["spec"]["subdomain"] = name  # pod DNS: <name>-<index>.<service>
    service = _manifest(
        "v1",
        "Service",
        metadata,
        {
            "clusterIP": "None",
            "selector": {JOB_LABEL: name},
            # Workers resolve each other before any of them is "ready".
            "publishNotReadyAddresses": True,
            "ports": [{"name": "tf", "port": settings.port, "targetPort": settings.port}],
        },
    )
    job = _manifest(
        "batch/v1",
        "Job",
        metadata,
        {
            "completionMode": "Indexed",
            "completions": replicas,
            "parallelism": replicas,
            "backoffLimit": backoff_limit,
            "activeDeadlineSeconds": timeout_seconds,
            "ttlSecondsAfterFinished": 3600,
            "template": pod,
        },
    )
    return LaunchPlan("indexed_job", name, settings.namespace, (service, job))


def _manifest(api_version: str, kind: str, metadata: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """A Kubernetes object; each gets its own copy of the metadata so that no two share a dict."""
    return {"apiVersion": api_version, "kind": kind, "metadata": copy.deepcopy(metadata), "spec": spec}


def _fill_pod(
    template: dict[str, Any], spec: WorkerSpec, labels: dict[str, str], port: int, env: dict[str, str]
) -> dict[str, Any]:
    """A copy of the template pod whose first container runs `spec`."""
    pod = copy.deepcopy(template)
    pod.setdefault("metadata", {})
    pod["metadata"]["labels"] = {**pod["metadata"].get("labels", {}), **labels}
    pod["spec"]["restartPolicy"] = "OnFailure"
    containers = pod["spec"].get("containers") or []
    if not containers:
        raise ValueError("the worker template's pod has no container")
    container = containers[0]
    container["command"] = ["python", "-m", "components.launcher.worker", "--spec-json", spec.to_json()]
    container.pop("args", None)
    extra = [{"name": key, "value": value} for key, value in sorted(env.items())]
    container["env"] = [item for item in container.get("env", []) if item["name"] not in env] + extra
    container["ports"] = [{"name": "tf", "containerPort": port}]
    return pod


def default_apis():
    """(BatchV1Api, CoreV1Api, CustomObjectsApi) from the in-cluster config, else ~/.kube/config."""
    from kubernetes import client, config

    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return client.BatchV1Api(), client.CoreV1Api(), client.CustomObjectsApi()


class KubernetesLauncher:
    """Creates a plan's objects, watches the job, reports failures, cleans up."""

    def __init__(
        self,
        batch_api,
        core_api,
        custom_api,
        poll_seconds: float,
        log: Callable[[str], None] = print,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._batch, self._core, self._custom = batch_api, core_api, custom_api
        self._poll, self._log, self._clock, self._sleep = poll_seconds, log, clock, sleep

    def fetch_template(self, settings: KubernetesSettings) -> dict[str, Any]:
        """The pod template of the suspended `train-workers` Job or TFJob, as a dict.

        Raises:
          WorkerFailedError: When the template does not exist, saying how to create it.
        """
        try:
            if settings.job_kind == "tfjob":
                tfjob = self._custom.get_namespaced_custom_object(
                    _TFJOB["group"], _TFJOB["version"], settings.namespace, _TFJOB["plural"], settings.template
                )
                return tfjob["spec"]["tfReplicaSpecs"]["Worker"]["template"]
            job = self._batch.read_namespaced_job(settings.template, settings.namespace)
        except Exception as error:  # noqa: BLE001 - the API's errors vary; a missing template is the usual one
            kind = "TFJob" if settings.job_kind == "tfjob" else "Job"
            raise WorkerFailedError(
                f"cannot read the worker template {kind} {settings.namespace}/{settings.template} "
                f"({type(error).__name__}: {' '.join(str(error).split())[:200]}); apply k8s/overlays/<env> first "
                "(skaffold run) or set launcher.kubernetes.template"
            ) from None
        from kubernetes import client

        return client.ApiClient().sanitize_for_serialization(job.spec.template)

    def run(self, plan: LaunchPlan, timeout_seconds: float) -> None:
        """Runs the plan to success.

        Raises:
          WorkerFailedError: The job failed, or a pod cannot start; names the pods.
          WorkerTimeoutError: Not finished in time.
        """
        self._create(plan)
        try:
            self._watch(plan, timeout_seconds)
        finally:
            self._delete(plan)

    def _create(self, plan: LaunchPlan) -> None:
        for manifest in plan.manifests:
            if manifest["kind"] == "Service":
                self._core.create_namespaced_service(plan.namespace, manifest)
            elif manifest["kind"] == "Job":
                self._batch.create_namespaced_job(plan.namespace, manifest)
            else:
                self._custom.create_namespaced_custom_object(
                    _TFJOB["group"], _TFJOB["version"], plan.namespace, _TFJOB["plural"], manifest
                )
        self._log(f"created {plan.kind} {plan.namespace}/{plan.name}")

    def _watch(self, plan: LaunchPlan, timeout_seconds: float) -> None:
        deadline = self._clock() + timeout_seconds
        while True:
            state = self._job_state(plan)
            if state == "succeeded":
                self._log(f"{plan.kind} {plan.name} succeeded")
                return
            pods = self._core.list_namespaced_pod(plan.namespace, label_selector=plan.selector).items
            fatal = [pod for pod in pods if _waiting_reason(pod) in _FATAL_WAITING]
            if state == "failed" or fatal:
                raise WorkerFailedError(self._failure_report(plan, pods, fatal))
            if self._clock() > deadline:
                raise WorkerTimeoutError(
                    f"{plan.kind} {plan.namespace}/{plan.name} not done after {timeout_seconds:.0f}s; deleted"
                )
            self._sleep(self._poll)

    def _job_state(self, plan: LaunchPlan) -> str:
        if plan.kind == "tfjob":
            status = self._custom.get_namespaced_custom_object_status(
                _TFJOB["group"], _TFJOB["version"], plan.namespace, _TFJOB["plural"], plan.name
            ).get("status", {})
            conditions = {c.get("type"): c.get("status") for c in status.get("conditions", [])}
        else:
            status = self._batch.read_namespaced_job_status(plan.name, plan.namespace).status
            conditions = {c.type: c.status for c in (status.conditions or [])}
        if conditions.get("Succeeded") == "True" or conditions.get("Complete") == "True":
            return "succeeded"
        if conditions.get("Failed") == "True":
            return "failed"
        return "running"

    def _failure_report(self, plan: LaunchPlan, pods: list, fatal: list) -> str:
        lines = [f"{plan.kind} {plan.namespace}/{plan.name} failed:"]
        for pod in fatal or [p for p in pods if _pod_problem(p)] or pods:
            lines.append(f"  pod {pod.metadata.name}: {_pod_problem(pod) or 'no container failure recorded'}")
            for line in self._log_tail(pod, plan.namespace):
                lines.append(f"    {line}")
        return "\n".join(lines)

    def _log_tail(self, pod, namespace: str) -> list[str]:
        restarted = any((s.restart_count or 0) > 0 for s in (pod.status.container_statuses or []))
        try:
            text = self._core.read_namespaced_pod_log(
                pod.metadata.name, namespace, tail_lines=_LOG_TAIL_LINES, previous=restarted
            )
        except Exception as error:  # noqa: BLE001 - logs are a courtesy; the failure is reported anyway
            return [f"(no logs: {type(error).__name__})"]
        return (text or "").splitlines()[-_LOG_TAIL_LINES:]

    def _delete(self, plan: LaunchPlan) -> None:
        for manifest in reversed(plan.manifests):
            try:
                if manifest["kind"] == "Service":
                    self._core.delete_namespaced_service(plan.name, plan.namespace)
                elif manifest["kind"] == "Job":
                    # Background propagation deletes the pods too.
                    self._batch.delete_namespaced_job(plan.name, plan.namespace, propagation_policy="Background")
                else:
                    self._custom.delete_namespaced_custom_object(
                        _TFJOB["group"], _TFJOB["version"], plan.namespace, _TFJOB["plural"], plan.name
                    )
            except Exception as error:  # noqa: BLE001 - clean-up goes on; a leftover is reported
                if getattr(error, "status", None) != 404:
                    self._log(f"could not delete {manifest['kind']} {plan.name}: {error}")
        self._log(f"deleted {plan.kind} {plan.namespace}/{plan.name}")


def _waiting_reason(pod) -> str | None:
    for status in pod.status.container_statuses or []:
        if status.state and status.state.waiting:
            return status.state.waiting.reason
    return None


def _pod_problem(pod) -> str | None:
    """The first container trouble of a pod: a fatal wait, a failed exit, or restarts."""
    for status in pod.status.container_statuses or []:
        waiting = status.state.waiting if status.state else None
        if waiting and waiting.reason in _FATAL_WAITING | {"CrashLoopBackOff"}:
            return f"{waiting.reason}: {waiting.message or ''}".strip()
        terminated = (status.state.terminated if status.state else None) or (
            status.last_state.terminated if status.last_state else None
        )
        if terminated and terminated.exit_code:
            return (
                f"container {status.name} exited {terminated.exit_code} ({terminated.reason or 'Error'}), "
                f"restarted {status.restart_count or 0} times"
            )
    return None
