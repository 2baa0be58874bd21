"""A run_fn whose second worker always fails: the launcher must name it."""

from __future__ import annotations

import json
import os


def run_fn(fn_args) -> None:
    task = json.loads(os.environ["TF_CONFIG"])["task"]
    if task["index"] == 1:
        raise RuntimeError("worker-1 refuses to train")
    from trainer.task import run_fn as real_run_fn

    real_run_fn(fn_args)
