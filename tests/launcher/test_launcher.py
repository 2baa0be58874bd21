"""The launcher: cluster specs, the local worker group with real processes, and the Kubernetes backend.

The Kubernetes API is replaced by autospecs of the official client's classes
(a wrong method name or argument fails) returning the client's own models; the
manifests are validated against the TFJob CRD and Kubernetes 1.32's schemas.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
from unittest import mock

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes import client

from launcher import cluster, kubernetes, local
from launcher.settings import KubernetesSettings
from launcher.spec import WorkerSpec
from launcher.worker import cluster_env
from tests.launcher import k8s_server

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = REPO_ROOT / "tests" / "data"
SPEC = WorkerSpec(kind="train", function="trainer.task.run_fn", fn_args={"train_files": ["/pipeline/x/*"]})
K8S_VERSION = "1.32"


# --- cluster and worker environment -------------------------------------------------------------


def test_tf_config_names_all_workers_and_this_task():
    config = json.loads(cluster.tf_config(["a:1", "b:2"], 1))
    assert config == {"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}
    with pytest.raises(ValueError, match="worker index 2 outside a cluster of 2"):
        cluster.tf_config(["a:1", "b:2"], 2)


def test_keras_tuner_env_makes_index_0_the_chief():
    assert cluster.keras_tuner_env("10.0.0.1", 8000, 0) == {
        "KERASTUNER_ORACLE_IP": "10.0.0.1",
        "KERASTUNER_ORACLE_PORT": "8000",
        "KERASTUNER_TUNER_ID": "chief",
    }
    assert cluster.keras_tuner_env("10.0.0.1", 8000, 0, bind_all=True)["KERASTUNER_ORACLE_IP"] == "0.0.0.0"
    assert cluster.keras_tuner_env("10.0.0.1", 8000, 2)["KERASTUNER_TUNER_ID"] == "tuner1"


def test_free_loopback_ports_are_distinct():
    ports = cluster.free_loopback_ports(5)
    assert len(set(ports)) == 5 and all(port > 0 for port in ports)


def test_indexed_job_pods_derive_their_tf_config():
    hosts = cluster.indexed_job_hosts("train-ab12", "train-ab12", "ns", 3, 2222)
    assert hosts[2] == "train-ab12-2.train-ab12.ns.svc:2222"
    env = {cluster.INDEX_ENV: "1", cluster.WORKER_HOSTS_ENV: ",".join(hosts)}
    assert json.loads(cluster_env("train", env)["TF_CONFIG"])["task"] == {"type": "worker", "index": 1}
    tuner = cluster_env("tune", env)
    assert tuner["KERASTUNER_TUNER_ID"] == "tuner0"
    assert tuner["KERASTUNER_ORACLE_IP"] == "train-ab12-0.train-ab12.ns.svc"


def test_tfjob_tuners_derive_keras_tuner_env_from_the_operators_tf_config():
    env = {"TF_CONFIG": cluster.tf_config(["w-0:2222", "w-1:2222"], 0)}
    assert cluster_env("tune", env) == cluster.keras_tuner_env("w-0", 2222, 0, bind_all=True)
    assert cluster_env("train", env) == {}, "the operator's TF_CONFIG is used as it is"


def test_local_workers_keep_what_the_launcher_set():
    assert cluster_env("tune", {"KERASTUNER_TUNER_ID": "tuner0", cluster.INDEX_ENV: "0"}) == {}
    assert cluster_env("train", {}) == {}


def test_worker_spec_round_trip_and_validation():
    assert WorkerSpec.from_json(SPEC.to_json()) == SPEC
    with pytest.raises(ValueError, match="kind must be 'train' or 'tune'"):
        WorkerSpec.from_json(json.dumps({"kind": "serve", "function": "f", "fn_args": {}}))


# --- local worker group with real processes -----------------------------------------------------


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def _group(codes: list[str], lines: list | None = None) -> local.LocalWorkerGroup:
    sink = (lambda name, line: lines.append((name, line))) if lines is not None else (lambda name, line: None)
    return local.LocalWorkerGroup(
        [_python(code) for code in codes], [{}] * len(codes), cluster.worker_names(len(codes)), sink
    )


def test_group_streams_each_workers_output_with_its_name():
    lines = []
    group = _group(["print('hello from 0')", "import os; print('hello from', os.getpid() > 0)"], lines)
    group.start()
    assert group.wait(30).succeeded
    assert ("worker-0", "hello from 0") in lines and ("worker-1", "hello from True") in lines


def test_a_failing_worker_stops_the_others_and_is_named():
    group = _group(["import time; time.sleep(60)", "print('about to fail'); raise SystemExit(3)"])
    started = time.monotonic()
    group.start()
    outcome = group.wait(60)
    assert time.monotonic() - started < 20, "the healthy worker must be stopped, not waited for"
    assert (outcome.failed_worker, outcome.exit_code) == ("worker-1", 3)
    assert "about to fail" in outcome.last_lines
    assert all(worker.process.poll() is not None for worker in group.workers)


def test_restarts_then_gives_up_naming_the_worker_and_its_last_lines():
    attempts, restarts = [], []

    def make_group(attempt: int) -> local.LocalWorkerGroup:
        attempts.append(attempt)
        return _group(["print('fine')", f"print('attempt {attempt} fails'); raise SystemExit(2)"])

    with pytest.raises(local.WorkerFailedError) as raised:
        local.run_with_restarts(
            make_group, max_restarts=2, timeout_seconds=60, on_restart=lambda outcome, number: restarts.append(number)
        )
    assert attempts == [0, 1, 2] and restarts == [1, 2]
    message = str(raised.value)
    assert message.startswith("worker-1 failed with exit code 2 (3 attempts, 2 restarts)")
    assert "attempt 2 fails" in message


def test_a_restart_that_succeeds_is_counted():
    def make_group(attempt: int) -> local.LocalWorkerGroup:
        return _group(["pass", "raise SystemExit(1)" if attempt == 0 else "pass"])

    assert local.run_with_restarts(make_group, max_restarts=2, timeout_seconds=60) == 1


def test_an_error_in_the_launcher_stops_the_workers_it_started():
    groups = []

    def make_group(attempt: int) -> local.LocalWorkerGroup:
        groups.append(_group(["import time; time.sleep(60)", "import time; time.sleep(60)"]))
        return groups[-1]

    def fail(group: local.LocalWorkerGroup) -> None:
        raise KeyboardInterrupt  # e.g. Ctrl-C while the group runs

    with pytest.raises(KeyboardInterrupt):
        local.run_with_restarts(make_group, max_restarts=1, timeout_seconds=60, on_start=fail)
    (group,) = groups
    assert all(worker.process.poll() is not None for worker in group.workers), "no worker outlives the launcher"


def test_workers_die_with_a_launcher_that_is_killed(tmp_path):
    """The worker ties itself to the launcher (no preexec_fn): SIGKILL the launcher, the worker goes too."""
    launcher = tmp_path / "start_worker.py"  # not launcher.py: that name would shadow the launcher package
    launcher.write_text(
        "import sys, time\n"
        "from launcher import local\n"
        "code = 'from launcher import local; local.die_with_parent(); import time; time.sleep(120)'\n"
        "group = local.LocalWorkerGroup([[sys.executable, '-c', code]], [{}], ['worker-0'], lambda n, l: None)\n"
        "group.start()\n"
        "print(group.workers[0].process.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, str(launcher)], stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT)
    try:
        worker_pid = int(parent.stdout.readline())
        time.sleep(1.0)  # the worker has called die_with_parent
        assert _alive(worker_pid)
        parent.kill()
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _alive(worker_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(worker_pid), "the worker outlived its launcher"
    finally:
        parent.kill()
        with contextlib.suppress(ProcessLookupError, ValueError, NameError):
            os.kill(worker_pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """True while `pid` runs (a zombie is not running: it is only not yet reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as stream:
            return stream.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_worker_whose_launcher_is_already_gone_exits(monkeypatch):
    exited, prctl = [], []
    monkeypatch.setattr(local.os, "_exit", exited.append)
    # Not on this test process itself: it would be killed with its own parent thread.
    monkeypatch.setattr(local.ctypes, "CDLL", lambda *args, **kwargs: mock.Mock(prctl=lambda *a: prctl.append(a)))
    local.die_with_parent({local.PARENT_PID_ENV: str(os.getppid() + 1_000_000)})
    assert prctl == [(1, signal.SIGKILL)] and exited == [1]


def test_timeout_stops_the_group():
    group = _group(["import time; time.sleep(60)"])
    group.start()
    with pytest.raises(local.WorkerTimeoutError, match=r"\['worker-0'\] still running after 1s"):
        group.wait(1)
    assert group.workers[0].process.poll() is not None


# --- Kubernetes manifests -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def tfjob_schema() -> dict:
    crd = yaml.safe_load(DATA.joinpath("tfjob-crd-v1.9.yaml").read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return version["schema"]["openAPIV3Schema"]


K8S = REPO_ROOT / "k8s"
TEMPLATE_UID = "5f0c2a4e-7d1b-4c39-9a8e-2b6f1d0e9c11"


def _template_object(kind: str) -> dict:
    """The worker template object from the repo's own k8s/ files."""
    if kind == "tfjob":
        return yaml.safe_load((K8S / "components" / "tfjob" / "tfjob.yaml").read_text())
    return yaml.safe_load((K8S / "base" / "training" / "indexed-job.yaml").read_text())


def _template(kind: str) -> dict:
    """The worker pod template as the launcher reads it back from the API server (server fields included)."""
    if kind == "tfjob":
        tfjob = k8s_server.read_back_tfjob(_template_object(kind), "tfx-pipeline", TEMPLATE_UID)
        return tfjob["spec"]["tfReplicaSpecs"]["Worker"]["template"]
    job = k8s_server.as_client_job(k8s_server.read_back_job(_template_object(kind), "tfx-pipeline", TEMPLATE_UID))
    return client.ApiClient().sanitize_for_serialization(job.spec.template)


def _plan(kind: str, spec: WorkerSpec = SPEC, name: str = "train-ab12cd34") -> kubernetes.LaunchPlan:
    return kubernetes.plan_launch(spec, 2, _template(kind), KubernetesSettings(job_kind=kind), name, 3600, "run-1")


def test_the_fixture_carries_what_the_server_adds():
    """Guards the test data itself: a template read back has the fields that got Jobs rejected."""
    labels = _template("indexed_job")["metadata"]["labels"]
    assert set(k8s_server.CONTROLLER_LABELS) <= set(labels)
    with pytest.raises(client.ApiException) as rejected:
        # What the old launcher created: the template's labels copied as they came back.
        job = {"metadata": {"name": "train-1"}, "spec": {"template": _template("indexed_job")}}
        k8s_server.reject_like_the_server(job, "a-new-uid")
    assert rejected.value.status == 422


def test_indexed_job_and_service_pass_kubernetes_strict_validation():
    plan = _plan("indexed_job")
    kinds = [manifest["kind"] for manifest in plan.manifests]
    assert kinds == ["Job", "Service"], "the Job first: it owns the Service"
    for manifest in plan.manifests:
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
        assert k8s_server.server_owned(manifest) == [], manifest["kind"]
    job, service = plan.manifests
    k8s_server.reject_like_the_server(job, "a-new-uid")  # accepted
    assert service["spec"]["clusterIP"] == "None"
    assert job["spec"]["completionMode"] == "Indexed" and job["spec"]["completions"] == 2
    assert job["spec"]["backoffLimit"] == 0, "no pod restarts alone: the launcher restarts the group"
    assert job["spec"]["suspend"] is True, "created suspended, resumed once its Service exists"
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["subdomain"] == service["metadata"]["name"]
    assert service["spec"]["selector"].items() <= job["spec"]["template"]["metadata"]["labels"].items()
    for manifest in plan.manifests:
        assert manifest["metadata"]["labels"][kubernetes.RUN_LABEL] == "run-1"
    env = {item["name"]: item["value"] for item in pod["containers"][0]["env"]}
    assert env[cluster.WORKER_HOSTS_ENV].split(",")[1] == "train-ab12cd34-1.train-ab12cd34.tfx-pipeline.svc:2222"
    assert env["HOME"] == "/tmp", "the template's own variables are kept"
    assert json.loads(pod["containers"][0]["command"][-1]) == json.loads(SPEC.to_json())


def test_tfjob_passes_the_crd_schema(tfjob_schema):
    (tfjob,) = _plan("tfjob").manifests
    jsonschema.validate(tfjob, tfjob_schema)
    assert k8s_server.server_owned(tfjob) == []
    worker = tfjob["spec"]["tfReplicaSpecs"]["Worker"]
    assert worker["replicas"] == 2 and worker["restartPolicy"] == "Never"
    assert tfjob["spec"]["runPolicy"]["backoffLimit"] == 0
    assert worker["template"]["spec"]["containers"][0]["name"] == "tensorflow"
    assert "suspend" not in tfjob["spec"]["runPolicy"]
    assert tfjob["metadata"]["labels"][kubernetes.RUN_LABEL] == "run-1"
    # The pod template inside is a core PodTemplateSpec: check it strictly too.
    kubernetes_validate.validate(
        {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"}, "template": worker["template"]},
        K8S_VERSION,
        strict=True,
    )


def test_server_fields_are_stripped_and_nothing_else():
    template = _template("indexed_job")
    stripped = kubernetes.strip_server_fields(template)
    assert stripped["metadata"] == {"labels": {"app.kubernetes.io/name": "train-worker"}}
    assert stripped["spec"] == template["spec"], "the pod spec (server defaults included) is kept"


def test_run_labels_are_valid_label_values():
    assert kubernetes.label_value("manual__2026-11-22T03:00:00.123+00:00") == "manual__2026-11-22T03-00-00.123-00-00"
    assert len(kubernetes.label_value("x" * 100)) == 63
    assert kubernetes.label_value("--") == "unknown"


def test_tuning_adds_the_chief_oracle_replica():
    spec = WorkerSpec(kind="tune", function="trainer.tuning.tuner_fn", fn_args={})
    (job, _) = _plan("indexed_job", spec=spec).manifests
    assert job["spec"]["completions"] == 3
    assert job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] == "tune-worker"


def test_the_template_is_copied_not_changed():
    template = _template("indexed_job")
    before = json.dumps(template, sort_keys=True)
    kubernetes.plan_launch(SPEC, 2, template, KubernetesSettings(), "train-ab12cd34", 3600)
    assert json.dumps(template, sort_keys=True) == before


def test_a_template_without_a_container_is_refused():
    with pytest.raises(ValueError, match="has no container"):
        kubernetes.plan_launch(SPEC, 2, {"spec": {"containers": []}}, KubernetesSettings(), "x-1", 60)


def test_job_names_are_unique_dns_labels():
    names = {kubernetes.job_name("Train Model!") for _ in range(20)}
    assert len(names) == 20
    assert all(len(name) <= 49 and name.startswith("train-model-") for name in names)


# --- Kubernetes launcher against the client's interface -----------------------------------------


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _apis():
    """Autospecs of the client's APIs; job creation answers like the server (uid set, 422 on bad labels)."""
    batch, core, custom = (
        mock.create_autospec(client.BatchV1Api, instance=True),
        mock.create_autospec(client.CoreV1Api, instance=True),
        mock.create_autospec(client.CustomObjectsApi, instance=True),
    )

    def create_job(namespace, body):
        uid = f"uid-{body['metadata']['name']}"
        k8s_server.reject_like_the_server(body, uid)
        return client.V1Job(metadata=client.V1ObjectMeta(name=body["metadata"]["name"], uid=uid))

    batch.create_namespaced_job.side_effect = create_job
    return batch, core, custom


def _job_status(*conditions: str) -> client.V1Job:
    return client.V1Job(
        status=client.V1JobStatus(conditions=[client.V1JobCondition(type=kind, status="True") for kind in conditions])
    )


def _pod(
    name: str,
    terminated_exit: int | None = None,
    waiting: str | None = None,
    restarts: int = 0,
    phase: str = "Running",
    unschedulable: str | None = None,
):
    state = client.V1ContainerState(
        terminated=client.V1ContainerStateTerminated(exit_code=terminated_exit, reason="Error")
        if terminated_exit is not None
        else None,
        waiting=client.V1ContainerStateWaiting(reason=waiting, message="pull failed") if waiting else None,
    )
    status = client.V1ContainerStatus(
        name="worker", image="img", image_id="", ready=False, restart_count=restarts, state=state
    )
    conditions = (
        [client.V1PodCondition(type="PodScheduled", status="False", reason="Unschedulable", message=unschedulable)]
        if unschedulable
        else None
    )
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name),
        status=client.V1PodStatus(
            phase="Pending" if unschedulable else phase,
            conditions=conditions,
            container_statuses=None if unschedulable else [status],
        ),
    )


def _launcher(apis, clock, grace: float = 300):
    return kubernetes.KubernetesLauncher(
        *apis, poll_seconds=10, log=lambda line: None, clock=clock, sleep=clock.sleep, unschedulable_grace_seconds=grace
    )


def _plans(kind: str = "indexed_job"):
    """make_plan for the launcher: a new name each attempt, as launch() does; records the plans."""
    made = []

    def make_plan(attempt: int) -> kubernetes.LaunchPlan:
        made.append(_plan(kind, name=f"train-ab12cd3{attempt}"))
        return made[-1]

    return make_plan, made


def test_indexed_job_success_creates_owns_resumes_watches_and_cleans_up():
    batch, core, custom = apis = _apis()
    batch.read_namespaced_job_status.side_effect = [_job_status(), _job_status("Complete")]
    core.list_namespaced_pod.return_value = client.V1PodList(items=[_pod("p-0"), _pod("p-1")])
    make_plan, made = _plans()

    assert _launcher(apis, _Clock()).run(make_plan, max_restarts=2, timeout_seconds=600) == 0

    (plan,) = made
    job, _ = plan.manifests
    batch.create_namespaced_job.assert_called_once_with("tfx-pipeline", job)
    (_, created_service), _ = core.create_namespaced_service.call_args
    assert created_service["metadata"]["ownerReferences"] == [
        {"apiVersion": "batch/v1", "kind": "Job", "name": plan.name, "uid": f"uid-{plan.name}"}
    ], "the Job owns the Service: the garbage collector removes it with the Job"
    kubernetes_validate.validate(created_service, K8S_VERSION, strict=True)
    batch.patch_namespaced_job.assert_called_once_with(plan.name, "tfx-pipeline", {"spec": {"suspend": False}})
    core.list_namespaced_pod.assert_called_with("tfx-pipeline", label_selector=plan.selector)
    batch.delete_namespaced_job.assert_called_once_with(plan.name, "tfx-pipeline", propagation_policy="Background")
    core.delete_namespaced_service.assert_called_once_with(plan.name, "tfx-pipeline")
    custom.create_namespaced_custom_object.assert_not_called()


def test_the_old_launcher_would_have_been_rejected_by_the_server():
    """The check in _apis() is live: a Job with the template's controller labels gets the server's 422."""
    batch, _, _ = _apis()
    job = {"metadata": {"name": "train-1"}, "spec": {"template": _template("indexed_job")}}
    with pytest.raises(client.ApiException, match="selector` does not match template `labels`"):
        batch.create_namespaced_job("tfx-pipeline", job)


def test_a_create_that_fails_half_way_leaves_nothing_behind():
    batch, core, _ = apis = _apis()
    core.create_namespaced_service.side_effect = client.ApiException(status=403, reason="Forbidden")
    make_plan, made = _plans()
    with pytest.raises(client.ApiException, match="Forbidden"):
        _launcher(apis, _Clock()).run(make_plan, max_restarts=2, timeout_seconds=600)
    (plan,) = made
    batch.delete_namespaced_job.assert_called_once_with(plan.name, "tfx-pipeline", propagation_policy="Background")
    core.delete_namespaced_service.assert_not_called()  # never created
    batch.patch_namespaced_job.assert_not_called()


def test_a_job_create_that_fails_deletes_nothing_it_did_not_create():
    batch, core, _ = apis = _apis()
    batch.create_namespaced_job.side_effect = client.ApiException(status=422, reason="Invalid")
    make_plan, _ = _plans()
    with pytest.raises(client.ApiException):
        _launcher(apis, _Clock()).run(make_plan, max_restarts=0, timeout_seconds=600)
    batch.delete_namespaced_job.assert_not_called()
    core.create_namespaced_service.assert_not_called()


def test_a_failed_worker_recreates_the_whole_group_up_to_max_restarts():
    batch, core, _ = apis = _apis()
    batch.read_namespaced_job_status.return_value = _job_status()
    core.list_namespaced_pod.return_value = client.V1PodList(
        items=[_pod("train-0"), _pod("train-1", terminated_exit=137, phase="Failed")]
    )
    core.read_namespaced_pod_log.return_value = "step 120\nKilled\n"
    logged = []
    launcher = kubernetes.KubernetesLauncher(
        *apis, poll_seconds=10, log=logged.append, clock=_Clock(), sleep=lambda seconds: None
    )
    make_plan, made = _plans()

    with pytest.raises(local.WorkerFailedError) as raised:
        launcher.run(make_plan, max_restarts=2, timeout_seconds=600)

    assert len(made) == 3 and len({plan.name for plan in made}) == 3, "a new job per attempt"
    assert batch.create_namespaced_job.call_count == 3
    deleted = [call.args[0] for call in batch.delete_namespaced_job.call_args_list]
    assert deleted == [plan.name for plan in made], "each attempt's job deleted, pods with it"
    assert sum("re-creating the whole worker group" in line for line in logged) == 2
    message = str(raised.value)
    assert message.startswith(f"indexed_job tfx-pipeline/{made[-1].name} failed (3 attempts, 2 restarts):")
    assert "pod train-1: container worker exited 137 (Error)" in message and "Killed" in message
    assert "pod train-0" not in message


def test_a_restart_that_succeeds_is_counted_on_kubernetes():
    batch, core, _ = apis = _apis()
    batch.read_namespaced_job_status.side_effect = [_job_status("Failed"), _job_status(), _job_status("Complete")]
    core.list_namespaced_pod.return_value = client.V1PodList(items=[])
    make_plan, made = _plans()
    assert _launcher(apis, _Clock()).run(make_plan, max_restarts=2, timeout_seconds=600) == 1
    assert len(made) == 2


def test_an_unschedulable_pod_fails_the_launch_after_the_grace_period_with_the_schedulers_reason():
    batch, core, _ = apis = _apis()
    batch.read_namespaced_job_status.return_value = _job_status()
    reason = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu. preemption: 0/3 nodes are available."
    pods = [_pod("train-0"), _pod("train-1", unschedulable=reason)]
    core.list_namespaced_pod.return_value = client.V1PodList(items=pods)
    clock = _Clock()
    make_plan, made = _plans()
    with pytest.raises(kubernetes.UnschedulableError) as raised:
        _launcher(apis, clock, grace=120).run(make_plan, max_restarts=2, timeout_seconds=7200)
    assert 120 <= clock.now <= 130, "failed within the grace period, not at the 7200 s timeout"
    assert len(made) == 1, "not restarted: a new group would not fit either"
    assert f"pod train-1 could not be scheduled for 120s: {reason}" in str(raised.value)
    batch.delete_namespaced_job.assert_called_once()


def test_a_pod_that_is_scheduled_in_time_is_not_failed():
    batch, core, _ = apis = _apis()
    batch.read_namespaced_job_status.side_effect = [_job_status()] * 5 + [_job_status("Complete")]
    pending = client.V1PodList(items=[_pod("train-0", unschedulable="0/3 nodes are available")])
    core.list_namespaced_pod.side_effect = [pending] * 3 + [client.V1PodList(items=[_pod("train-0")])] * 3
    make_plan, _ = _plans()
    assert _launcher(apis, _Clock(), grace=60).run(make_plan, max_restarts=0, timeout_seconds=600) == 0


def test_an_image_that_cannot_be_pulled_fails_at_once():
    batch, core, _ = apis = _apis()
    batch.read_namespaced_job_status.return_value = _job_status()
    core.list_namespaced_pod.return_value = client.V1PodList(items=[_pod("train-0", waiting="ImagePullBackOff")])
    clock = _Clock()
    make_plan, _ = _plans()
    with pytest.raises(local.WorkerFailedError, match="pod train-0: ImagePullBackOff"):
        _launcher(apis, clock).run(make_plan, max_restarts=0, timeout_seconds=3600)
    assert clock.now == 0, "no waiting for the timeout"


def test_timeout_deletes_the_job():
    batch, core, _ = apis = _apis()
    batch.read_namespaced_job_status.return_value = _job_status()
    core.list_namespaced_pod.return_value = client.V1PodList(items=[_pod("train-0")])
    clock = _Clock()
    make_plan, _ = _plans()
    with pytest.raises(local.WorkerTimeoutError, match="not done after 60s; deleted"):
        _launcher(apis, clock).run(make_plan, max_restarts=2, timeout_seconds=60)
    assert 60 <= clock.now <= 80
    batch.delete_namespaced_job.assert_called_once()
    core.delete_namespaced_service.assert_called_once()


def test_tfjob_goes_through_the_custom_objects_api():
    _, core, custom = apis = _apis()
    custom.get_namespaced_custom_object_status.side_effect = [
        {"status": {"conditions": [{"type": "Running", "status": "True"}]}},
        {"status": {"conditions": [{"type": "Running", "status": "False"}, {"type": "Succeeded", "status": "True"}]}},
    ]
    core.list_namespaced_pod.return_value = client.V1PodList(items=[])
    make_plan, made = _plans("tfjob")
    _launcher(apis, _Clock()).run(make_plan, max_restarts=0, timeout_seconds=600)
    (plan,) = made
    custom.create_namespaced_custom_object.assert_called_once_with(
        "kubeflow.org", "v1", "tfx-pipeline", "tfjobs", plan.manifests[0]
    )
    custom.delete_namespaced_custom_object.assert_called_once_with(
        "kubeflow.org", "v1", "tfx-pipeline", "tfjobs", plan.name
    )


def test_cleanup_goes_on_when_an_object_is_already_gone():
    batch, core, _ = apis = _apis()
    batch.read_namespaced_job_status.return_value = _job_status("Complete")
    batch.delete_namespaced_job.side_effect = client.ApiException(status=404)
    logged = []
    launcher = kubernetes.KubernetesLauncher(*apis, poll_seconds=1, log=logged.append)
    launcher.run(_plans()[0], max_restarts=0, timeout_seconds=10)
    core.delete_namespaced_service.assert_called_once()
    assert not any("could not delete" in line for line in logged)


def test_the_worker_template_is_read_from_the_cluster_without_server_fields():
    batch, _, custom = apis = _apis()
    read_back = k8s_server.read_back_job(_template_object("indexed_job"), "tfx-pipeline", TEMPLATE_UID)
    batch.read_namespaced_job.return_value = k8s_server.as_client_job(read_back)
    template = _launcher(apis, _Clock()).fetch_template(KubernetesSettings())
    batch.read_namespaced_job.assert_called_once_with("train-workers", "tfx-pipeline")
    assert template["metadata"] == {"labels": {"app.kubernetes.io/name": "train-worker"}}
    assert template["spec"]["containers"][0]["image"] == "tfx-pipeline"
    assert k8s_server.server_owned(template) == []
    custom.get_namespaced_custom_object.return_value = k8s_server.read_back_tfjob(
        _template_object("tfjob"), "tfx-pipeline", TEMPLATE_UID
    )
    tfjob_template = _launcher(apis, _Clock()).fetch_template(KubernetesSettings(job_kind="tfjob"))
    assert tfjob_template["spec"]["containers"][0]["name"] == "tensorflow"
    assert k8s_server.server_owned(tfjob_template) == []


def test_a_missing_template_says_how_to_create_it():
    batch, _, _ = apis = _apis()
    batch.read_namespaced_job.side_effect = client.ApiException(status=404, reason="Not Found")
    with pytest.raises(local.WorkerFailedError, match=r"worker template Job tfx-pipeline/train-workers .*apply k8s"):
        _launcher(apis, _Clock()).fetch_template(KubernetesSettings())


# --- faults: transient API errors, SIGTERM, objects that outlive a dead launcher --------------------


def _api_error(status: int, reason: str, message: str) -> client.ApiException:
    """An ApiException built from a response shaped as the API server sends it (a v1 Status body)."""
    import urllib3

    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason.replace(" ", ""),
        "code": status,
    }
    response = urllib3.HTTPResponse(
        body=json.dumps(body).encode(),
        status=status,
        reason=reason,
        headers={"Content-Type": "application/json", "Audit-Id": "7d3c2a9e-51f0-4f4e-9a43-2f1d7e0b6c11"},
        preload_content=True,
    )
    return client.ApiException(http_resp=client.rest.RESTResponse(response))


def test_transient_api_errors_during_the_watch_are_retried_with_backoff():
    import urllib3

    batch, core, _ = apis = _apis()
    batch.read_namespaced_job_status.side_effect = [
        _job_status(),
        _api_error(503, "Service Unavailable", "the server is currently unable to handle the request"),
        _api_error(429, "Too Many Requests", "too many requests, please try again later"),
        _job_status("Complete"),
    ]
    core.list_namespaced_pod.side_effect = [
        urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "Connection reset by peer")),
        client.V1PodList(items=[_pod("p-0")]),
    ]
    clock = _Clock()
    make_plan, made = _plans()
    assert _launcher(apis, clock).run(make_plan, max_restarts=0, timeout_seconds=600) == 0, "no restart either"
    assert len(made) == 1 and batch.read_namespaced_job_status.call_count == 4
    assert clock.now == 1 + 10 + 1 + 2, "backoff 1 s, a poll, then 1 s and 2 s"
    batch.delete_namespaced_job.assert_called_once()


def test_a_permanent_api_error_is_not_retried_and_transient_ones_stop_at_the_deadline():
    batch, _core, _ = apis = _apis()
    forbidden = _api_error(403, "Forbidden", 'jobs.batch "train-ab12cd30" is forbidden')
    batch.read_namespaced_job_status.side_effect = forbidden
    make_plan, _ = _plans()
    with pytest.raises(client.ApiException, match="Forbidden"):
        _launcher(apis, _Clock()).run(make_plan, max_restarts=2, timeout_seconds=600)
    assert batch.read_namespaced_job_status.call_count == 1
    batch.delete_namespaced_job.assert_called_once()

    batch, _core, _ = apis = _apis()
    batch.read_namespaced_job_status.side_effect = _api_error(503, "Service Unavailable", "unavailable")
    clock = _Clock()
    with pytest.raises(client.ApiException, match="Service Unavailable"):
        _launcher(apis, clock).run(_plans()[0], max_restarts=2, timeout_seconds=100)
    assert 60 <= clock.now <= 100, "retried until the launch's time limit, not beyond"
    batch.delete_namespaced_job.assert_called_once()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_sigint_of_the_launch_deletes_its_jobs(signum):
    batch, core, _ = apis = _apis()
    batch.read_namespaced_job_status.return_value = _job_status()

    def pods_then_signal(namespace, label_selector):
        os.kill(os.getpid(), signum)  # as kubelet does on a pod's deletion, or a deadline
        return client.V1PodList(items=[_pod("p-0")])

    core.list_namespaced_pod.side_effect = pods_then_signal
    previous = signal.getsignal(signum)
    make_plan, made = _plans()
    with pytest.raises(kubernetes.LaunchInterruptedError, match=f"received {signal.Signals(signum).name}"):
        _launcher(apis, _Clock()).run(make_plan, max_restarts=2, timeout_seconds=600)
    (plan,) = made
    batch.delete_namespaced_job.assert_called_once_with(plan.name, "tfx-pipeline", propagation_policy="Background")
    core.delete_namespaced_service.assert_called_once_with(plan.name, "tfx-pipeline")
    assert signal.getsignal(signum) is previous, "the process's own handler is back"


def test_every_launched_job_has_a_ttl_and_a_tfjob_cleans_all_its_pods():
    job, _ = _plan("indexed_job").manifests
    assert job["spec"]["ttlSecondsAfterFinished"] > 0
    (tfjob,) = _plan("tfjob").manifests
    assert tfjob["spec"]["runPolicy"]["cleanPodPolicy"] == "All"
    assert tfjob["spec"]["runPolicy"]["ttlSecondsAfterFinished"] > 0
