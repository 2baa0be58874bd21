"""Benchmark: what a warm start buys, in training steps to the same eval AUC.

  python -m benchmarks.warm_start [--steps 500] [--every 25]

Cuts the taxi sample by trip time into two spans and transforms each (as the
tests do). Trains a model on span 1 and keeps its warm-start weights; then, on
span 2, trains once cold and once warm from span 1's model (vocabularies
remapped by token), evaluating on span 2's eval rows every `--every` steps.
Prints both curves and the steps each needs to come within TOLERANCE of the
cold run's best AUC (on a small span both curves peak, then overfit).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import tempfile

from pipelines import sample_data

TOLERANCE = 0.005


def _curve(job, steps: int, every: int, start: str | None) -> list[tuple[int, float]]:
    """Eval AUC after 0, every, 2*every ... steps of one training."""
    import tensorflow_transform as tft

    from trainer import data, heads, model, strategy, task, warm_start
    from trainer.training import TrainingLoop

    output = tft.TFTransformOutput(job.transform_output)
    transform = data.transformer(output)
    inputs = model.model_inputs(job.task, data.vocabulary_sizes(output, job.task))
    head = heads.make_head(job.task.type, output, job.train_files)
    network = warm_start.describe(job.hparams, inputs, head, data.vocabularies(output, job.task))
    role = strategy.cluster_role(None)
    distribution = strategy.create_strategy(strategy.StrategyKind.DEFAULT, None)
    loop = TrainingLoop(
        distribution,
        role,
        job.settings,
        lambda: model.build_model(job.hparams, inputs, head.num_outputs),
        job.hparams,
        task.checkpoint_dir_for(job, task.architecture(inputs, head)),
        head,
    )
    if start:
        values, message = warm_start.plan(warm_start.load(start), loop.model, network)
        print(f"  {message}")
        loop.assign_weights(values)
    evaluation = data.make_dataset(job.eval_files, transform, 512, training=False)
    curve = [(0, loop.evaluate(evaluation).metrics["auc"])]
    for target in range(every, steps + 1, every):
        loop.settings = job.settings.model_copy(update={"train_steps": target})
        loop.fit(
            lambda context: data.make_dataset(job.train_files, transform, 128, True, context), log_dir=job.model_run_dir
        )
        curve.append((target, loop.evaluate(evaluation).metrics["auc"]))
    if not start:
        export_dir = os.path.join(os.path.dirname(job.serving_model_dir), warm_start.WARM_START_DIR)
        warm_start.save(loop.model, network, export_dir)
    return curve


def _steps_to(curve: list[tuple[int, float]], target: float) -> str:
    reached = [step for step, auc in curve if auc >= target]
    return str(reached[0]) if reached else f"> {curve[-1][0]}"


def main() -> None:
    from tests.conftest import make_transformed, taxi_task
    from trainer import task
    from trainer.hyperparameters import Hyperparameters
    from trainer.settings import TrainingSettings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--every", type=int, default=25)
    args = parser.parse_args()
    rows = sample_data.read_rows()
    first, second = sample_data.split_into_spans(rows, 2)
    with tempfile.TemporaryDirectory() as workdir:
        root = pathlib.Path(workdir)
        jobs = []
        for index, span_rows in enumerate((first, second), start=1):
            transformed = make_transformed(root / f"span-{index}", span_rows)
            for variant in ("cold", "warm"):
                settings = TrainingSettings(
                    train_steps=args.steps,
                    batch_size=128,
                    checkpoint_every_steps=10**6,
                    checkpoint_root=str(root / f"ckpt-{index}-{variant}"),
                )
                jobs.append(
                    task.TrainingJob(
                        train_files=transformed.train_files,
                        eval_files=transformed.eval_files,
                        transform_output=transformed.transform_output,
                        serving_model_dir=str(root / f"model-{index}-{variant}" / "Format-Serving"),
                        model_run_dir=str(root / f"run-{index}-{variant}"),
                        settings=settings,
                        hparams=Hyperparameters(),
                        task=taxi_task(),
                    )
                )
        print("span 1: training the served model")
        _curve(jobs[0], args.steps, args.steps, start=None)
        start = str(root / "model-1-cold" / "warm_start")
        print("span 2, cold:")
        cold = _curve(jobs[2], args.steps, args.every, start=None)
        print("span 2, warm from span 1's model:")
        warm = _curve(jobs[3], args.steps, args.every, start=start)
    # The cold run's best, less a tolerance: on a small span the curves peak and then overfit.
    best = max(auc for _, auc in cold)
    target = best - TOLERANCE
    print(f"\nEval AUC on span 2 every {args.every} steps (cold | warm):")
    for (step, cold_auc), (_, warm_auc) in zip(cold, warm, strict=True):
        print(f"  step {step:4d}  {cold_auc:.4f} | {warm_auc:.4f}")
    print(
        f"Steps to within {TOLERANCE} of the cold run's best AUC {best:.4f}: cold {_steps_to(cold, target)}, "
        f"warm {_steps_to(warm, target)}"
    )


if __name__ == "__main__":
    main()
