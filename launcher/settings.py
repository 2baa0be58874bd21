"""Typed settings of the worker launcher, a section of the pipeline config (`launcher:`).

Importable without TensorFlow, so the config loads fast.
"""

from __future__ import annotations

from typing import Literal

import pydantic

__all__ = ["KubernetesSettings", "LauncherSettings"]


class _Settings(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True, strict=True)


class KubernetesSettings(_Settings):
    """Where worker pods run. What they look like comes from a template in the cluster.

    The worker pod (image, resources, GPU/TPU node selectors, volumes, service
    account, security context) is the pod template of a suspended Job or TFJob
    applied from k8s/ (`train-workers`); kustomize overlays patch it per
    environment. The launcher copies it, fills in the command, cluster
    variables and replica count, and creates a new job from it.

    Attributes:
      namespace: Namespace of the template and the jobs; the launcher's service
        account needs the k8s/base Role there.
      job_kind: `indexed_job` (a batch/v1 Indexed Job plus a headless Service,
        no operator needed) or `tfjob` (Kubeflow training operator's TFJob).
      template: Name of the suspended Job (or TFJob) whose pod template workers use.
      port: Port of the TensorFlow (and KerasTuner oracle) servers.
      poll_seconds: Interval between status checks.
      unschedulable_grace_seconds: How long a worker pod may stay unschedulable
        (no node with the GPU, a PVC that does not bind) before the launch
        fails with the scheduler's message; leave room for a cluster autoscaler.
    """

    namespace: str = "tfx-pipeline"
    job_kind: Literal["indexed_job", "tfjob"] = "indexed_job"
    template: str = "train-workers"
    port: int = pydantic.Field(default=2222, ge=1, le=65535)
    poll_seconds: float = pydantic.Field(default=10.0, gt=0)
    unschedulable_grace_seconds: float = pydantic.Field(default=300.0, ge=0)


class LauncherSettings(_Settings):
    """How distributed workers (multi-worker training, parallel tuning) are started.

    Attributes:
      backend: `local` (processes on this machine, loopback ports) or `kubernetes`.
      max_restarts: Restarts of the whole training worker group after a worker
        dies (MultiWorkerMirroredStrategy needs every worker); training resumes
        from the latest checkpoint.
      timeout_seconds: Wall-time limit of one launch.
      kubernetes: Settings of the kubernetes backend.
    """

    backend: Literal["local", "kubernetes"] = "local"
    max_restarts: int = pydantic.Field(default=2, ge=0)
    timeout_seconds: int = pydantic.Field(default=3600, ge=1)
    kubernetes: KubernetesSettings = KubernetesSettings()
