"""Starts the same function on N workers: local processes or Kubernetes pods.

Shared by the distributed trainer and the parallel tuner. `launch` picks the
backend from LauncherSettings.
"""

from components.launcher.launch import launch
from components.launcher.local import WorkerFailedError, WorkerTimeoutError
from components.launcher.settings import KubernetesSettings, LauncherSettings
from components.launcher.spec import WorkerSpec

__all__ = ["KubernetesSettings", "LauncherSettings", "WorkerFailedError", "WorkerSpec", "WorkerTimeoutError", "launch"]
