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
    """Where and how worker pods run.

    Attributes:
      namespace: Namespace of the jobs; the launcher's service account needs
        rights to manage jobs, services and pods there (k8s/base RBAC).
      image: The pipeline image every worker runs.
      job_kind: `indexed_job` (a batch/v1 Indexed Job plus a headless Service,
        no operator needed) or `tfjob` (Kubeflow training operator's TFJob).
      service_account: Service account of the worker pods.
      cpu, memory: Requests and limits of each worker.
      gpus: nvidia.com/gpu per worker (0 for none).
      node_selector: Labels the worker nodes must carry (GPU or TPU pools).
      volume_claim: PersistentVolumeClaim holding the pipeline root and the
        checkpoints, mounted at `mount_path`; empty when they live in object storage.
      mount_path: Where the claim is mounted in the workers.
      port: Port of the TensorFlow (and KerasTuner oracle) servers.
      poll_seconds: Interval between status checks.
    """

    namespace: str = "tfx-pipeline"
    image: str = "tfx-pipeline:latest"
    job_kind: Literal["indexed_job", "tfjob"] = "indexed_job"
    service_account: str = "tfx-worker"
    cpu: str = "1"
    memory: str = "4Gi"
    gpus: int = pydantic.Field(default=0, ge=0)
    node_selector: dict[str, str] = pydantic.Field(default_factory=dict)
    volume_claim: str = "pipeline-data"
    mount_path: str = "/pipeline"
    port: int = pydantic.Field(default=2222, ge=1, le=65535)
    poll_seconds: float = pydantic.Field(default=10.0, gt=0)


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
