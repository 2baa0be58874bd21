"""Benchmark: training steps/s with 1 vs 2 local workers (MultiWorkerMirroredStrategy on loopback).

Trains on the Transform output of the latest `make run` (run it first), same
global batch and steps for both, through the real launcher and worker
processes, and prints steps/s and the ratio. Worker start-up is excluded: the
rate is the trainer's own (steps between its first and last log lines).

  python -m benchmarks.multi_worker [--config FILE] [--steps N]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import tempfile

from launcher import WorkerSpec, local
from pipelines import config as config_lib
from pipelines import local_runner
from pipelines.pipeline import EXAMPLE_GEN_ID, TRANSFORM_ID, resolved_task
from trainer import features, task
from trainer.settings import SETTINGS_KEY, TrainingSettings


def _latest(pattern: str) -> str:
    found = sorted(glob.glob(pattern), key=lambda path: int(os.path.basename(path)))
    if not found:
        raise SystemExit(f"nothing matches {pattern}: run `make run` first")
    return found[-1]


def _train(root: str, workdir: str, num_workers: int, steps: int, config) -> dict:
    examples = _latest(os.path.join(root, EXAMPLE_GEN_ID, "examples", "*"))
    settings = TrainingSettings(
        train_steps=steps,
        batch_size=config.trainer.batch_size,
        log_every_steps=max(steps // 10, 1),
        checkpoint_every_steps=steps,
        checkpoint_root=os.path.join(workdir, "ckpt"),
    )
    fn_args = {
        "train_files": [os.path.join(examples, "Split-train", "*")],
        "eval_files": [os.path.join(examples, "Split-eval", "*")],
        "transform_output": _latest(os.path.join(root, TRANSFORM_ID, "transform_graph", "*")),
        "transform_graph_path": None,
        "serving_model_dir": os.path.join(workdir, "serving"),
        "model_run_dir": os.path.join(workdir, "run"),
        # As TFX hands them over: the steps in TrainArgs (FnArgs.train_steps), the rest in custom_config.
        "train_steps": steps,
        "custom_config": {
            SETTINGS_KEY: settings.custom_config(),
            features.TASK_KEY: resolved_task(config).model_dump(mode="json"),
        },
    }
    spec = WorkerSpec(kind="train", function="trainer.task.run_fn", fn_args=fn_args)
    local.run_local(spec, num_workers, max_restarts=0, timeout_seconds=1800, sink=lambda name, line: None)
    with open(os.path.join(workdir, "run", task.REPORT_FILE)) as stream:
        return json.load(stream)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=local_runner.DEFAULT_CONFIG)
    parser.add_argument("--steps", type=int, default=500)
    args = parser.parse_args()
    config = config_lib.load_config(args.config, check_local_paths=False)
    rates = {}
    with tempfile.TemporaryDirectory() as workdir:
        for num_workers in (1, 2):
            report = _train(
                config.pipeline.root,
                os.path.join(workdir, str(num_workers)),
                num_workers,
                args.steps,
                config,
            )
            rates[num_workers] = report["training"]["examples_per_second"] / config.trainer.batch_size
            metrics = ", ".join(f"{name} {value:.4f}" for name, value in report["eval_metrics"]["metrics"].items())
            print(f"{num_workers} worker(s): {rates[num_workers]:7.1f} steps/s, eval {metrics}")
    print(
        f"2 workers / 1 worker: {rates[2] / rates[1]:.2f}x steps/s ({os.cpu_count()} cores, "
        f"global batch {config.trainer.batch_size})"
    )


if __name__ == "__main__":
    main()
