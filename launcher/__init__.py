"""Starts the same function on N workers: local processes or Kubernetes pods.

Shared by the distributed trainer and the parallel tuner. `launch` picks the
backend from LauncherSettings.
"""

from launcher.launch import launch
from launcher.local import WorkerFailedError, WorkerTimeoutError
from launcher.settings import KubernetesSettings, LauncherSettings
from launcher.spec import WorkerSpec

__all__ = ["KubernetesSettings", "LauncherSettings", "WorkerFailedError", "WorkerSpec", "WorkerTimeoutError", "launch"]
