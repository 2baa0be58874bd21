"""Entry point of one distributed worker.

  python -m launcher.worker --spec FILE
  python -m launcher.worker --spec-json JSON

Local workers get TF_CONFIG (or KerasTuner's variables) from the launcher. In a
Kubernetes Indexed Job the worker derives them from its completion index and
the hosts list; a TFJob's operator sets TF_CONFIG itself.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Sequence

from launcher import cluster, local
from launcher.spec import WorkerSpec, fn_args_from_dict

__all__ = ["cluster_env", "main", "run"]


def cluster_env(kind: str, environ: dict[str, str]) -> dict[str, str]:
    """Variables this worker must add to its environment.

    Training in an Indexed Job: TF_CONFIG from the completion index and hosts.
    Tuning on Kubernetes: KerasTuner's variables from the same, or from the
    TF_CONFIG a TFJob's operator set; worker 0 is the chief oracle.
    Locally the launcher has set everything already.
    """
    if "KERASTUNER_TUNER_ID" in environ:
        return {}
    if cluster.INDEX_ENV in environ and cluster.WORKER_HOSTS_ENV in environ:
        hosts, index = environ[cluster.WORKER_HOSTS_ENV].split(","), int(environ[cluster.INDEX_ENV])
    elif kind == "tune" and "TF_CONFIG" in environ:
        tf_config = json.loads(environ["TF_CONFIG"])
        hosts, index = tf_config["cluster"]["worker"], int(tf_config["task"]["index"])
    else:
        return {}
    if kind == "train":
        return {"TF_CONFIG": cluster.tf_config(hosts, index)}
    host, _, port = hosts[0].rpartition(":")
    return cluster.keras_tuner_env(host, int(port), index, bind_all=True)


def run(spec: WorkerSpec) -> None:
    """Runs the spec's function in this process (environment already set)."""
    module_name, _, function_name = spec.function.rpartition(".")
    function = getattr(importlib.import_module(module_name), function_name)
    fn_args = fn_args_from_dict(spec.fn_args, spec.examples)
    if spec.kind == "train":
        function(fn_args)
        return
    result = function(fn_args)
    result.tuner.search(**result.fit_kwargs)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run one distributed training or tuning worker.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--spec", help="file holding the worker spec JSON")
    source.add_argument("--spec-json", help="the worker spec JSON itself")
    args = parser.parse_args(argv)
    local.die_with_parent()
    if args.spec:
        with open(args.spec, encoding="utf-8") as stream:
            spec = WorkerSpec.from_json(stream.read())
    else:
        spec = WorkerSpec.from_json(args.spec_json)
    # Before TensorFlow or KerasTuner are imported: both read these at start-up.
    os.environ.update(cluster_env(spec.kind, dict(os.environ)))
    from absl import logging

    logging.set_verbosity(logging.INFO)  # progress lines reach the launcher's log
    run(spec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
