"""Pure cluster descriptions: TF_CONFIG and KerasTuner environments for N workers.

The same functions serve local processes (loopback ports chosen here) and
Kubernetes pods (stable DNS names of an Indexed Job behind a headless Service).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

__all__ = [
    "CHIEF_TUNER_ID",
    "INDEX_ENV",
    "WORKER_HOSTS_ENV",
    "free_loopback_ports",
    "indexed_job_hosts",
    "keras_tuner_env",
    "tf_config",
    "worker_names",
]

# Set by Kubernetes in every pod of an Indexed Job.
INDEX_ENV = "JOB_COMPLETION_INDEX"
# Set by the launcher: comma-separated host:port of every worker, in index order.
WORKER_HOSTS_ENV = "LAUNCHER_WORKER_HOSTS"
CHIEF_TUNER_ID = "chief"


def worker_names(num_workers: int, role: str = "worker") -> list[str]:
    """Display names of the workers: `worker-0`, `worker-1`, ..."""
    return [f"{role}-{index}" for index in range(num_workers)]


def tf_config(hosts: Sequence[str], index: int) -> str:
    """TF_CONFIG for worker `index` of a cluster of `hosts` (worker 0 is the chief)."""
    if not 0 <= index < len(hosts):
        raise ValueError(f"worker index {index} outside a cluster of {len(hosts)}")
    return json.dumps({"cluster": {"worker": list(hosts)}, "task": {"type": "worker", "index": index}})


def keras_tuner_env(chief_host: str, chief_port: int, index: int, bind_all: bool = False) -> dict[str, str]:
    """KerasTuner's distributed variables for process `index`: 0 is the chief oracle, i>0 tuner i-1.

    Args:
      chief_host: Where the tuners reach the oracle.
      chief_port: The oracle's port.
      index: This process's index.
      bind_all: Let the chief listen on every interface (in a pod, its own DNS
        name may not resolve to an address it can bind before it is ready).
    """
    is_chief = index == 0
    return {
        "KERASTUNER_ORACLE_IP": "0.0.0.0" if (is_chief and bind_all) else chief_host,
        "KERASTUNER_ORACLE_PORT": str(chief_port),
        "KERASTUNER_TUNER_ID": CHIEF_TUNER_ID if is_chief else f"tuner{index - 1}",
    }


def indexed_job_hosts(job_name: str, service: str, namespace: str, num_workers: int, port: int) -> list[str]:
    """Stable DNS names of an Indexed Job's pods behind a headless Service."""
    return [f"{job_name}-{index}.{service}.{namespace}.svc:{port}" for index in range(num_workers)]


def free_loopback_ports(count: int) -> list[int]:
    """`count` distinct unused ports, from portpicker (its port server when one runs, else probing TCP and UDP)."""
    import portpicker

    ports: list[int] = []
    while len(ports) < count:
        port = portpicker.pick_unused_port()
        if port not in ports:
            ports.append(port)
    return ports
