"""Kubernetes backend: workers as a Kubeflow TFJob, or an Indexed Job plus a headless Service.

The worker pod comes from a template in the cluster: the suspended
`train-workers` Job (or TFJob) that k8s/ applies and its overlays patch (image,
resources, GPU/TPU node selectors, volumes, security). `plan_launch` fills a
copy in (pure; validated in tests against the TFJob CRD and Kubernetes' own
schemas); `KubernetesLauncher` fetches the template, creates the job through
the official client, watches it to completion, surfaces pod failures with
their last log lines, and deletes what it created.

A template read back from the cluster carries what the API server filled in:
`strip_server_fields` removes it (`SERVER_METADATA_FIELDS`, and the labels the
Job controller stamps on its pod template, `JOB_CONTROLLER_LABELS`), so a new
Job is accepted instead of rejected with HTTP 422 for labels naming another
job's uid. Sources: ObjectMeta's read-only fields (k8s.io/apimachinery
pkg/apis/meta/v1/types.go) and the Job strategy's selector generation
(kubernetes pkg/registry/batch/job/strategy.go, `generateSelector`).

Ownership: the Indexed Job is created suspended, the Service is created with
an owner reference to it (so Kubernetes' garbage collector removes the
Service with the Job, even when the pipeline pod dies), then the Job is
resumed. Every object carries `RUN_LABEL` naming the pipeline run, so
`kubectl delete job,service,tfjob -l tfx-pipeline/run=<run>` cleans up after a
lost pipeline pod.

Restarts: MultiWorkerMirroredStrategy needs the whole worker group, so pods
never restart on their own (restartPolicy Never, backoffLimit 0): when a
worker fails, the launcher deletes the job and creates a new one (a new
name, so nothing waits for the old pods to go), up to `max_restarts` times;
training resumes from the latest checkpoint on the shared volume, as the
local backend's restarted group does. A pod the scheduler cannot place (no
node with the GPU, a PVC that does not bind) fails the launch after
`unschedulable_grace_seconds` with the scheduler's message; that is not
restarted, since a new group would not fit either.

Faults: a transient API error (HTTP 429, 5xx, a reset or refused connection)
while watching or deleting is retried with exponential backoff (1 s doubling
to 30 s) within the launch's time limit. SIGTERM and SIGINT of the launching
process (a deadline, a node drain, `kubectl delete pod`) raise
`LaunchInterruptedError` in it, so the attempt's objects are deleted before it
exits; Python runs signal handlers only in the main thread, so a launch from
another thread relies on the objects' TTL (`ttlSecondsAfterFinished`, on every
Job and TFJob) and the owner references instead. A TFJob's pods go with it
(`cleanPodPolicy: All`).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import re
import signal
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from launcher import cluster
from launcher.local import WorkerFailedError, WorkerTimeoutError
from launcher.settings import KubernetesSettings
from launcher.spec import WorkerSpec

__all__ = [
    "JOB_CONTROLLER_LABELS",
    "JOB_LABEL",
    "RUN_LABEL",
    "SERVER_METADATA_FIELDS",
    "KubernetesLauncher",
    "LaunchInterruptedError",
    "LaunchPlan",
    "UnschedulableError",
    "default_apis",
    "job_name",
    "label_value",
    "plan_launch",
    "strip_server_fields",
]

JOB_LABEL = "tfx-pipeline/job"
RUN_LABEL = "tfx-pipeline/run"
# ObjectMeta fields only the API server sets (read-only for clients, or owned by controllers).
SERVER_METADATA_FIELDS = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
    "ownerReferences",
)
# Labels the Job controller adds to a Job's pod template (and its selector) from the Job's uid and name.
JOB_CONTROLLER_LABELS = (
    "controller-uid",
    "job-name",
    "batch.kubernetes.io/controller-uid",
    "batch.kubernetes.io/job-name",
)
# Labels the training operator puts on a TFJob's pods; never ours to copy.
_OPERATOR_LABEL_PREFIX = "training.kubeflow.org/"
_TFJOB = {"group": "kubeflow.org", "version": "v1", "plural": "tfjobs"}
# Waiting reasons that do not heal by waiting: fail at once instead of at the timeout.
_FATAL_WAITING = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError"}
_LOG_TAIL_LINES = 20
# Finished launches' objects go after this long, even if the launcher died before deleting them.
_TTL_SECONDS = 3600
# API answers that a retry can cure: too many requests, and the server or a proxy failing for now.
_TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
_FIRST_BACKOFF_SECONDS = 1.0
_MAX_BACKOFF_SECONDS = 30.0
# How long the clean-up of an attempt retries transient errors, beyond the launch's own deadline.
_DELETE_RETRY_SECONDS = 60.0


class LaunchInterruptedError(RuntimeError):
    """The launching process got SIGTERM or SIGINT; the launch's objects were deleted."""


def _is_transient(error: BaseException) -> bool:
    """Whether an API call's error may pass by itself: 429/5xx, or a connection reset, refused or dropped."""
    import urllib3

    if getattr(error, "status", None) in _TRANSIENT_STATUSES:
        return True
    return isinstance(error, (ConnectionError, urllib3.exceptions.HTTPError))


@contextlib.contextmanager
def _interrupted_by_signals():
    """Turns the first SIGTERM or SIGINT into LaunchInterruptedError (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def interrupt(signum, frame):
        if received:  # the clean-up the first one started must not be interrupted
            return
        received.append(signum)
        raise LaunchInterruptedError(f"received {signal.Signals(signum).name}: deleting the launch's objects")

    previous = {signum: signal.signal(signum, interrupt) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class UnschedulableError(WorkerFailedError):
    """A worker pod could not be placed on any node for the grace period; the scheduler's message says why."""


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


def label_value(text: str) -> str:
    """`text` as a valid label value: at most 63 of [A-Za-z0-9._-], starting and ending alphanumeric."""
    value = re.sub(r"[^A-Za-z0-9._-]", "-", text)[:63]
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", value) or "unknown"


def strip_server_fields(template: dict[str, Any]) -> dict[str, Any]:
    """A copy of a pod template as read from the cluster, without what the API server or a controller set.

    Removes SERVER_METADATA_FIELDS from its metadata, the Job controller's
    JOB_CONTROLLER_LABELS and the training operator's labels, and a `status`.
    """
    pod = copy.deepcopy(template)
    pod.pop("status", None)
    metadata = pod.get("metadata") or {}
    for field in SERVER_METADATA_FIELDS:
        metadata.pop(field, None)
    labels = {
        key: value
        for key, value in (metadata.get("labels") or {}).items()
        if key not in JOB_CONTROLLER_LABELS and not key.startswith(_OPERATOR_LABEL_PREFIX)
    }
    if labels:
        metadata["labels"] = labels
    else:
        metadata.pop("labels", None)
    if metadata:
        pod["metadata"] = metadata
    else:
        pod.pop("metadata", None)
    return pod


def plan_launch(
    spec: WorkerSpec,
    num_workers: int,
    template: dict[str, Any],
    settings: KubernetesSettings,
    name: str,
    timeout_seconds: int,
    run_id: str = "unknown",
) -> LaunchPlan:
    """The manifests for `num_workers` workers running `spec` (tuning adds the chief oracle).

    Args:
      spec: What every worker runs.
      num_workers: Training workers, or tuners besides the chief oracle.
      template: The pod template (a PodTemplateSpec as a dict) of the cluster's
        `train-workers` Job or TFJob; its first container runs the worker.
        Server-populated fields are removed (`strip_server_fields`).
      settings: Namespace, job kind and port.
      name: The new job's name (see `job_name`).
      timeout_seconds: The job's activeDeadlineSeconds.
      run_id: The pipeline run, the value of RUN_LABEL on every object.
    """
    replicas = num_workers if spec.kind == "train" else num_workers + 1
    labels = {
        JOB_LABEL: name,
        RUN_LABEL: label_value(run_id),
        "app.kubernetes.io/part-of": "tfx-distributed-pipeline",
        "app.kubernetes.io/component": f"{spec.kind}-worker",
    }
    metadata = {"name": name, "namespace": settings.namespace, "labels": labels}
    # The group restarts as a whole (the launcher re-creates the job): no pod restarts alone.
    if settings.job_kind == "tfjob":
        pod = _fill_pod(template, spec, labels, settings.port, env={})
        tfjob = _manifest(
            f"{_TFJOB['group']}/{_TFJOB['version']}",
            "TFJob",
            metadata,
            {
                "runPolicy": {
                    "cleanPodPolicy": "All",
                    "ttlSecondsAfterFinished": _TTL_SECONDS,
                    "backoffLimit": 0,
                    "activeDeadlineSeconds": timeout_seconds,
                },
                "tfReplicaSpecs": {"Worker": {"replicas": replicas, "restartPolicy": "Never", "template": pod}},
            },
        )
        return LaunchPlan("tfjob", name, settings.namespace, (tfjob,))
    hosts = cluster.indexed_job_hosts(name, name, settings.namespace, replicas, settings.port)
    pod = _fill_pod(template, spec, labels, settings.port, env={cluster.WORKER_HOSTS_ENV: ",".join(hosts)})
    pod["spec"]["subdomain"] = name  # pod DNS: <name>-<index>.<service>
    job = _manifest(
        "batch/v1",
        "Job",
        metadata,
        {
            "completionMode": "Indexed",
            "completions": replicas,
            "parallelism": replicas,
            "backoffLimit": 0,
            "activeDeadlineSeconds": timeout_seconds,
            "ttlSecondsAfterFinished": _TTL_SECONDS,
            # Resumed once the Service it owns exists (KubernetesLauncher).
            "suspend": True,
            "template": pod,
        },
    )
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
    return LaunchPlan("indexed_job", name, settings.namespace, (job, service))


def _manifest(api_version: str, kind: str, metadata: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """A Kubernetes object; each gets its own copy of the metadata so that no two share a dict."""
    return {"apiVersion": api_version, "kind": kind, "metadata": copy.deepcopy(metadata), "spec": spec}


def _fill_pod(
    template: dict[str, Any], spec: WorkerSpec, labels: dict[str, str], port: int, env: dict[str, str]
) -> dict[str, Any]:
    """A copy of the template pod, without server-populated fields, whose first container runs `spec`."""
    pod = strip_server_fields(template)
    pod.setdefault("metadata", {})
    pod["metadata"]["labels"] = {**pod["metadata"].get("labels", {}), **labels}
    pod["spec"]["restartPolicy"] = "Never"
    containers = pod["spec"].get("containers") or []
    if not containers:
        raise ValueError("the worker template's pod has no container")
    container = containers[0]
    container["command"] = ["python", "-m", "launcher.worker", "--spec-json", spec.to_json()]
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
    """Creates a plan's objects, watches the job, restarts the group on failure, reports, cleans up."""

    def __init__(
        self,
        batch_api,
        core_api,
        custom_api,
        poll_seconds: float,
        log: Callable[[str], None] = print,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        unschedulable_grace_seconds: float = 300.0,
    ):
        self._batch, self._core, self._custom = batch_api, core_api, custom_api
        self._poll, self._log, self._clock, self._sleep = poll_seconds, log, clock, sleep
        self._unschedulable_grace = unschedulable_grace_seconds

    def fetch_template(self, settings: KubernetesSettings) -> dict[str, Any]:
        """The pod template of the suspended `train-workers` Job or TFJob, as a dict without server fields.

        Raises:
          WorkerFailedError: When the template does not exist, saying how to create it.
        """
        try:
            if settings.job_kind == "tfjob":
                tfjob = self._custom.get_namespaced_custom_object(
                    _TFJOB["group"], _TFJOB["version"], settings.namespace, _TFJOB["plural"], settings.template
                )
                return strip_server_fields(tfjob["spec"]["tfReplicaSpecs"]["Worker"]["template"])
            job = self._batch.read_namespaced_job(settings.template, settings.namespace)
        except Exception as error:  # noqa: BLE001 - the API's errors vary; a missing template is the usual one
            kind = "TFJob" if settings.job_kind == "tfjob" else "Job"
            raise WorkerFailedError(
                f"cannot read the worker template {kind} {settings.namespace}/{settings.template} "
                f"({type(error).__name__}: {' '.join(str(error).split())[:200]}); apply k8s/overlays/<env> first "
                "(skaffold run) or set launcher.kubernetes.template"
            ) from None
        from kubernetes import client

        return strip_server_fields(client.ApiClient().sanitize_for_serialization(job.spec.template))

    def run(self, make_plan: Callable[[int], LaunchPlan], max_restarts: int, timeout_seconds: float) -> int:
        """Runs fresh plans (`make_plan(attempt)`) until one succeeds; returns the restarts used.

        Each attempt's objects are deleted whatever happens, a failed create
        included. A failed worker re-creates the whole group, up to
        `max_restarts` times; an unschedulable pod or the timeout ends the launch.

        Raises:
          WorkerFailedError: The group failed `max_restarts + 1` times; names the pods.
          UnschedulableError: A pod found no node for the grace period.
          WorkerTimeoutError: Not finished in time.
          LaunchInterruptedError: SIGTERM or SIGINT arrived (in the main thread); the objects were deleted.
        """
        with _interrupted_by_signals():
            return self._run(make_plan, max_restarts, timeout_seconds)

    def _run(self, make_plan: Callable[[int], LaunchPlan], max_restarts: int, timeout_seconds: float) -> int:
        deadline = self._clock() + timeout_seconds
        for attempt in range(max_restarts + 1):
            plan = make_plan(attempt)
            created: list[dict[str, Any]] = []
            try:
                self._create(plan, created)
                self._watch(plan, deadline, timeout_seconds)
                return attempt
            except UnschedulableError:
                raise
            except WorkerFailedError as error:
                failure = error
                if attempt < max_restarts:
                    self._log(
                        f"{str(error).splitlines()[0]} re-creating the whole worker group "
                        f"(restart {attempt + 1} of {max_restarts})"
                    )
            finally:
                self._delete(plan, created, self._clock() + _DELETE_RETRY_SECONDS)
        first, _, rest = str(failure).partition("\n")
        raise WorkerFailedError(f"{first.rstrip(':')} ({max_restarts + 1} attempts, {max_restarts} restarts):\n{rest}")

    def _create(self, plan: LaunchPlan, created: list[dict[str, Any]]) -> None:
        """Creates the plan's objects, recording each in `created` as soon as it exists."""
        owner = None
        for manifest in plan.manifests:
            if manifest["kind"] == "Job":
                job = self._batch.create_namespaced_job(plan.namespace, manifest)
                created.append(manifest)
                owner = {"apiVersion": "batch/v1", "kind": "Job", "name": plan.name, "uid": job.metadata.uid}
            elif manifest["kind"] == "Service":
                if owner is None:
                    raise ValueError(f"{plan.name}: the Service must follow the Job that owns it")
                owned = {**manifest, "metadata": {**manifest["metadata"], "ownerReferences": [owner]}}
                self._core.create_namespaced_service(plan.namespace, owned)
                created.append(owned)
            else:
                self._custom.create_namespaced_custom_object(
                    _TFJOB["group"], _TFJOB["version"], plan.namespace, _TFJOB["plural"], manifest
                )
                created.append(manifest)
        if plan.kind == "indexed_job":
            self._batch.patch_namespaced_job(plan.name, plan.namespace, {"spec": {"suspend": False}})
        self._log(f"created {plan.kind} {plan.namespace}/{plan.name}")

    def _retrying(self, deadline: float, call: Callable[[], Any]) -> Any:
        """`call()`, retried with exponential backoff on transient API errors while before `deadline`."""
        delay = _FIRST_BACKOFF_SECONDS
        while True:
            try:
                return call()
            except Exception as error:  # only transient ones are retried, the rest re-raised
                if not _is_transient(error) or self._clock() + delay > deadline:
                    raise
                reason = getattr(error, "reason", None) or type(error).__name__
                self._log(f"transient API error ({getattr(error, 'status', '') or ''} {reason}); retry in {delay:.0f}s")
                self._sleep(delay)
                delay = min(2 * delay, _MAX_BACKOFF_SECONDS)

    def _watch(self, plan: LaunchPlan, deadline: float, timeout_seconds: float) -> None:
        unschedulable_since: dict[str, float] = {}
        while True:
            state = self._retrying(deadline, lambda: self._job_state(plan))
            if state == "succeeded":
                self._log(f"{plan.kind} {plan.name} succeeded")
                return
            pods = self._retrying(
                deadline, lambda: self._core.list_namespaced_pod(plan.namespace, label_selector=plan.selector)
            ).items
            fatal = [pod for pod in pods if _waiting_reason(pod) in _FATAL_WAITING]
            failed = [pod for pod in pods if pod.status and pod.status.phase == "Failed"]
            if state == "failed" or fatal or failed:
                raise WorkerFailedError(self._failure_report(plan, pods, fatal or failed))
            self._check_scheduling(plan, pods, unschedulable_since)
            if self._clock() > deadline:
                raise WorkerTimeoutError(
                    f"{plan.kind} {plan.namespace}/{plan.name} not done after {timeout_seconds:.0f}s; deleted"
                )
            self._sleep(self._poll)

    def _check_scheduling(self, plan: LaunchPlan, pods: list, since: dict[str, float]) -> None:
        """Raises UnschedulableError when a pod stayed unschedulable for the grace period."""
        now = self._clock()
        for pod in pods:
            message = _unschedulable_message(pod)
            if message is None:
                since.pop(pod.metadata.name, None)
                continue
            first = since.setdefault(pod.metadata.name, now)
            if now - first >= self._unschedulable_grace:
                raise UnschedulableError(
                    f"{plan.kind} {plan.namespace}/{plan.name}: pod {pod.metadata.name} could not be scheduled "
                    f"for {now - first:.0f}s: {message} (launcher.kubernetes.unschedulable_grace_seconds)"
                )

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

    def _failure_report(self, plan: LaunchPlan, pods: list, culprits: list) -> str:
        lines = [f"{plan.kind} {plan.namespace}/{plan.name} failed:"]
        for pod in culprits or [p for p in pods if _pod_problem(p)] or pods:
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

    def _delete_one(self, plan: LaunchPlan, kind: str) -> None:
        if kind == "Service":
            self._core.delete_namespaced_service(plan.name, plan.namespace)
        elif kind == "Job":
            # Background propagation deletes the pods too.
            self._batch.delete_namespaced_job(plan.name, plan.namespace, propagation_policy="Background")
        else:
            self._custom.delete_namespaced_custom_object(
                _TFJOB["group"], _TFJOB["version"], plan.namespace, _TFJOB["plural"], plan.name
            )

    def _delete(self, plan: LaunchPlan, created: list[dict[str, Any]], deadline: float) -> None:
        """Deletes what this attempt created, newest first; goes on past errors, reporting leftovers."""
        for manifest in reversed(created):
            try:
                self._retrying(deadline, lambda kind=manifest["kind"]: self._delete_one(plan, kind))
            except Exception as error:  # noqa: BLE001 - clean-up goes on; a leftover is reported
                if getattr(error, "status", None) != 404:
                    self._log(
                        f"could not delete {manifest['kind']} {plan.namespace}/{plan.name}: {error}; "
                        f"kubectl delete {manifest['kind'].lower()} -n {plan.namespace} -l {plan.selector}"
                    )
        if created:
            self._log(f"deleted {plan.kind} {plan.namespace}/{plan.name}")


def _unschedulable_message(pod) -> str | None:
    """The scheduler's message when the pod is marked unschedulable, else None."""
    for condition in (pod.status.conditions if pod.status else None) or []:
        if condition.type == "PodScheduled" and condition.status == "False" and condition.reason == "Unschedulable":
            return condition.message or "Unschedulable"
    return None


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
