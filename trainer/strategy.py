"""Chooses and creates the tf.distribute strategy from config and environment.

`choose_strategy` is a pure decision over the requested name, the parsed
TF_CONFIG and the GPU count; `create_strategy` turns it into a strategy. A TPU
that cannot be reached is a clear error after a bounded wait, never a hang.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import socket
import threading
import urllib.parse
from collections.abc import Mapping
from typing import Any

import tensorflow as tf

__all__ = [
    "ClusterRole",
    "StrategyError",
    "StrategyKind",
    "choose_strategy",
    "cluster_role",
    "create_strategy",
    "parse_tf_config",
]

_TPU_CONNECT_TIMEOUT_SECONDS = 120.0


class StrategyError(RuntimeError):
    """The requested strategy cannot run here; the message says why and what to set."""


class StrategyKind(enum.Enum):
    """The strategies the trainer runs under (config: trainer.strategy)."""

    DEFAULT = "default"  # one device, no distribution
    MIRRORED = "mirrored"  # several local GPUs
    MULTI_WORKER = "multi_worker"  # MultiWorkerMirroredStrategy over TF_CONFIG's workers
    TPU = "tpu"


@dataclasses.dataclass(frozen=True)
class ClusterRole:
    """This process's place in a multi-worker cluster."""

    task_type: str
    task_index: int
    num_workers: int
    cluster_has_chief: bool = False

    @property
    def is_chief(self) -> bool:
        """The chief writes checkpoints, summaries and the exported model.

        It is the `chief` task, or worker 0 when the cluster has no chief task.
        """
        if self.task_type == "chief":
            return True
        return self.task_type == "worker" and self.task_index == 0 and not self.cluster_has_chief

    @property
    def worker_id(self) -> str:
        """A name unique in the cluster, e.g. `worker-1`."""
        return f"{self.task_type}-{self.task_index}"


def parse_tf_config(text: str | None) -> dict[str, Any] | None:
    """Parses the TF_CONFIG environment variable; None when unset or empty.

    Raises:
      StrategyError: If it is not a JSON object with a `cluster` mapping.
    """
    if not text:
        return None
    try:
        tf_config = json.loads(text)
    except json.JSONDecodeError as error:
        raise StrategyError(f"TF_CONFIG is not valid JSON ({error}): {text[:200]!r}") from None
    if not isinstance(tf_config, dict) or not isinstance(tf_config.get("cluster", {}), dict):
        raise StrategyError(f"TF_CONFIG must be a JSON object with a 'cluster' mapping, got {text[:200]!r}")
    return tf_config


def cluster_role(tf_config: Mapping[str, Any] | None) -> ClusterRole:
    """Which task this process is; a process without TF_CONFIG is the chief of one.

    Raises:
      StrategyError: If TF_CONFIG names several workers but not this task.
    """
    if not tf_config:
        return ClusterRole("worker", 0, 1)
    cluster = tf_config.get("cluster", {})
    num_workers = len(cluster.get("chief", [])) + len(cluster.get("worker", []))
    task = tf_config.get("task", {})
    if num_workers > 1 and ("type" not in task or "index" not in task):
        raise StrategyError(f"TF_CONFIG names {num_workers} workers but no task type/index for this process")
    return ClusterRole(task.get("type", "worker"), int(task.get("index", 0)), max(num_workers, 1), "chief" in cluster)


def choose_strategy(requested: str, tf_config: Mapping[str, Any] | None, num_gpus: int) -> StrategyKind:
    """Resolves `auto` and validates explicit requests.

    auto: multi_worker when TF_CONFIG names more than one worker, mirrored with
    several local GPUs, default otherwise.

    Raises:
      StrategyError: On an unknown name.
    """
    if requested != "auto":
        try:
            return StrategyKind(requested)
        except ValueError:
            names = ", ".join(["auto", *(kind.value for kind in StrategyKind)])
            raise StrategyError(f"unknown strategy {requested!r}; expected one of: {names}") from None
    if cluster_role(tf_config).num_workers > 1:
        return StrategyKind.MULTI_WORKER
    if num_gpus > 1:
        return StrategyKind.MIRRORED
    return StrategyKind.DEFAULT


def create_strategy(kind: StrategyKind, tpu_address: str | None = None) -> tf.distribute.Strategy:
    """Builds the strategy. MULTI_WORKER reads TF_CONFIG itself.

    Raises:
      StrategyError: For TPU, when no address is given or it cannot be reached in time.
    """
    if kind is StrategyKind.MULTI_WORKER:
        return tf.distribute.MultiWorkerMirroredStrategy()
    if kind is StrategyKind.MIRRORED:
        return tf.distribute.MirroredStrategy()
    if kind is StrategyKind.TPU:
        return _tpu_strategy(tpu_address, _TPU_CONNECT_TIMEOUT_SECONDS)
    return tf.distribute.get_strategy()


def _tpu_strategy(tpu_address: str | None, timeout_seconds: float) -> tf.distribute.Strategy:
    if not tpu_address:
        raise StrategyError(
            "strategy 'tpu' needs trainer.tpu_address: a TPU name, 'local' on a TPU VM, or grpc://host:port"
        )
    _check_reachable(tpu_address)
    result: dict[str, Any] = {}

    def connect() -> None:
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_address)
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
            result["strategy"] = tf.distribute.TPUStrategy(resolver)
        except Exception as error:  # noqa: BLE001 - re-raised below with the address
            result["error"] = error

    # TPU initialisation blocks without a deadline on an address that does not
    # answer; a daemon thread lets us give up without hanging the process.
    thread = threading.Thread(target=connect, name="tpu-connect", daemon=True)
    thread.start()
    thread.join(timeout_seconds)
    if thread.is_alive():
        raise StrategyError(f"TPU at {tpu_address!r} did not initialise within {timeout_seconds:.0f}s")
    if "error" in result:
        error = result["error"]
        raise StrategyError(f"no usable TPU at {tpu_address!r}: {type(error).__name__}: {str(error)[:300]}")
    return result["strategy"]


def _check_reachable(tpu_address: str, timeout_seconds: float = 5.0) -> None:
    """For grpc://host:port addresses, fails fast when nothing listens there."""
    if not tpu_address.startswith("grpc://"):
        return
    parsed = urllib.parse.urlparse(tpu_address)
    try:
        with socket.create_connection((parsed.hostname, parsed.port or 8470), timeout=timeout_seconds):
            pass
    except OSError as error:
        raise StrategyError(f"cannot reach the TPU at {tpu_address!r}: {error}") from None
