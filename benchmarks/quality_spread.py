"""Benchmark: how much eval quality varies with the seed, to bound the tests that compare qualities.

  python -m benchmarks.quality_spread [--seeds 5] [--pipeline]

- Training: the distributed tests' job (8 000 sample rows and their transform graph,
  300 steps, batch 128) with 1 worker in-process and with 2 local workers,
  once per seed; prints each eval AUC and the spread.
- --pipeline: the whole pipeline on the sample with the repo's config, once
  per trainer.seed (Transform cached after the first); prints the Evaluator's AUC.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import tempfile

from pipelines import config as config_lib
from pipelines import local_runner, sample_data


def _train_aucs(seeds: list[int], workdir: str) -> dict[str, list[float]]:
    from tfx.proto import trainer_pb2
    from tfx.types import artifact_utils, standard_artifacts
    from tfx.utils import proto_utils

    from components.distributed_trainer.executor import Executor
    from launcher.launch import LAUNCHER_KEY, NUM_WORKERS_KEY
    from tests.conftest import make_transformed, task_config
    from trainer import task
    from trainer.settings import SETTINGS_KEY, TrainingSettings

    data = make_transformed(pathlib.Path(workdir) / "transformed", sample_data.read_rows())
    aucs: dict[str, list[float]] = {"1 worker": [], "2 workers": []}
    for seed in seeds:
        for num_workers, name in ((1, "1 worker"), (2, "2 workers")):
            out = os.path.join(workdir, f"{name}-{seed}")
            settings = TrainingSettings(
                train_steps=300,
                batch_size=128,
                checkpoint_every_steps=50,
                seed=seed,
                checkpoint_root=os.path.join(out, "ckpt"),
            )
            examples = standard_artifacts.Examples()
            examples.uri = data.examples_uri
            examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
            graph, model, run = (
                standard_artifacts.TransformGraph(),
                standard_artifacts.Model(),
                standard_artifacts.ModelRun(),
            )
            graph.uri, model.uri, run.uri = data.transform_output, os.path.join(out, "model"), os.path.join(out, "run")
            custom = {
                SETTINGS_KEY: settings.custom_config(),  # the steps travel in TrainArgs
                **task_config(),
                NUM_WORKERS_KEY: num_workers,
                LAUNCHER_KEY: {"backend": "local", "max_restarts": 0, "timeout_seconds": 900},
            }
            Executor().Do(
                {"examples": [examples], "transform_graph": [graph]},
                {"model": [model], "model_run": [run]},
                {
                    "run_fn": "trainer.task.run_fn",
                    "train_args": proto_utils.proto_to_json(trainer_pb2.TrainArgs(num_steps=300)),
                    "eval_args": proto_utils.proto_to_json(trainer_pb2.EvalArgs()),
                    "custom_config": json.dumps(custom),
                },
            )
            with open(os.path.join(run.uri, task.REPORT_FILE)) as stream:
                aucs[name].append(json.load(stream)["eval_metrics"]["metrics"]["auc"])
            print(f"seed {seed} {name}: AUC {aucs[name][-1]:.4f}", flush=True)
    return aucs


def _pipeline_aucs(seeds: list[int], workdir: str) -> list[float]:
    import tensorflow_model_analysis as tfma

    from tests.conftest import config_overrides, write_input

    write_input(pathlib.Path(workdir) / "in", sample_data.read_rows(), formats=("tfrecord",))
    aucs = []
    for seed in seeds:
        overrides = config_overrides(
            pathlib.Path(workdir) / "in",
            pathlib.Path(workdir) / "out",
            f"trainer.seed={seed}",
        )
        config = config_lib.load_config(local_runner.DEFAULT_CONFIG, overrides)
        local_runner.run(config)
        evaluations = sorted(os.listdir(os.path.join(config.pipeline.root, "Evaluator", "evaluation")), key=int)
        result = tfma.load_eval_result(os.path.join(config.pipeline.root, "Evaluator", "evaluation", evaluations[-1]))
        aucs.append(dict(result.slicing_metrics)[()][""][""]["auc"]["doubleValue"])
        print(f"seed {seed} pipeline: AUC {aucs[-1]:.4f}", flush=True)
    return aucs


def _describe(name: str, values: list[float]) -> str:
    return (
        f"  {name:10s} min {min(values):.4f}  mean {statistics.mean(values):.4f}  max {max(values):.4f}  "
        f"sd {statistics.pstdev(values):.4f}  (n={len(values)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--pipeline", action="store_true")
    args = parser.parse_args()
    seeds = list(range(1, args.seeds + 1))
    with tempfile.TemporaryDirectory() as workdir:
        if args.pipeline:
            print("\nEval AUC of the pipeline's model over trainer seeds:")
            print(_describe("pipeline", _pipeline_aucs(seeds, workdir)))
            return
        aucs = _train_aucs(seeds, workdir)
    print("\nEval AUC over seeds:")
    for name, values in aucs.items():
        print(_describe(name, values))
    differences = [abs(a - b) for a, b in zip(aucs["1 worker"], aucs["2 workers"], strict=True)]
    print(f"  |1 worker - 2 workers| per seed: max {max(differences):.4f}, mean {statistics.mean(differences):.4f}")


if __name__ == "__main__":
    main()
