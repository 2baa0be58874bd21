"""Dispatch of a launch to the configured backend."""

from __future__ import annotations

from absl import logging

from launcher import kubernetes, local
from launcher.settings import LauncherSettings
from launcher.spec import WorkerSpec

__all__ = ["LAUNCHER_KEY", "NUM_WORKERS_KEY", "launch", "pop_launch_config"]

# Where LauncherSettings and the worker count travel in a component's custom_config.
LAUNCHER_KEY = "launcher"
NUM_WORKERS_KEY = "num_workers"


def pop_launch_config(custom_config: dict) -> tuple[int, LauncherSettings]:
    """Removes and returns (num_workers, launcher settings) from a custom_config.

    The user function then sees the custom_config a stock component would give it.
    """
    num_workers = int(custom_config.pop(NUM_WORKERS_KEY, 1))
    settings = LauncherSettings.model_validate(custom_config.pop(LAUNCHER_KEY, {}))
    return num_workers, settings


def launch(
    spec: WorkerSpec, num_workers: int, settings: LauncherSettings, purpose: str, run_id: str | None = None
) -> None:
    """Runs `spec` on `num_workers` workers and returns when all succeeded.

    Args:
      spec: What every worker runs.
      num_workers: Training workers, or tuners besides the chief oracle.
      settings: Backend, restarts, time limit and the Kubernetes settings.
      purpose: A word for names and logs, e.g. "train" (part of the Kubernetes job name).
      run_id: The pipeline run, labelled on every Kubernetes object the launch creates.

    Raises:
      WorkerFailedError: A worker failed for good; the message names it.
      WorkerTimeoutError: The launch ran out of time.
    """
    if settings.backend == "kubernetes":
        k8s = settings.kubernetes
        launcher = kubernetes.KubernetesLauncher(
            *kubernetes.default_apis(),
            k8s.poll_seconds,
            log=logging.info,
            unschedulable_grace_seconds=k8s.unschedulable_grace_seconds,
        )
        template = launcher.fetch_template(k8s)
        run_label = run_id or kubernetes.job_name(purpose)  # one label for every attempt

        def make_plan(attempt: int) -> kubernetes.LaunchPlan:
            name = kubernetes.job_name(purpose)
            return kubernetes.plan_launch(spec, num_workers, template, k8s, name, settings.timeout_seconds, run_label)

        # Tuning is not restarted: the chief oracle's state does not survive a new group.
        max_restarts = settings.max_restarts if spec.kind == "train" else 0
        restarts = launcher.run(make_plan, max_restarts, settings.timeout_seconds)
    else:
        restarts = local.run_local(
            spec,
            num_workers,
            settings.max_restarts,
            settings.timeout_seconds,
            sink=lambda name, line: logging.info("[%s] %s", name, line),
        )
    if restarts:
        logging.info("%s finished after %d restart(s) of the worker group", purpose, restarts)
