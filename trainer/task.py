"""Trainer entry point: `run_fn` unpacks TFX's FnArgs and calls `run_training`.

`run_training` is the whole job (strategy, data, training with resume,
evaluation, export) as a plain function tests can call directly.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import tensorflow as tf
from absl import logging

from common.code_version import code_version
from trainer import data, export, heads, model, strategy, warm_start
from trainer.features import TaskSpec
from trainer.hyperparameters import Hyperparameters
from trainer.preprocessing import task_from_config
from trainer.settings import SETTINGS_KEY, TrainingSettings
from trainer.training import EvalMetrics, StepHook, TrainingLoop, TrainingResult

__all__ = [
    "REPORT_FILE",
    "WARM_START_FROM_KEY",
    "TrainingJob",
    "TrainingReport",
    "checkpoint_dir_for",
    "run_fn",
    "run_training",
]

# Written by the chief next to the TensorBoard logs in the model run folder.
REPORT_FILE = "training_report.json"
# In custom_config with trainer.warm_start: the serving root whose newest version is the start.
WARM_START_FROM_KEY = "warm_start_from"


@dataclasses.dataclass(frozen=True)
class TrainingJob:
    """Everything one training run reads and writes."""

    train_files: Sequence[str]
    eval_files: Sequence[str]
    transform_output: str
    serving_model_dir: str
    model_run_dir: str
    settings: TrainingSettings
    hparams: Hyperparameters
    task: TaskSpec
    tf_config: Mapping[str, Any] | None = None
    # A warm-start folder (trainer/warm_start.py) to start from; None: cold.
    warm_start_from: str | None = None


@dataclasses.dataclass(frozen=True)
class TrainingReport:
    """The outcome of `run_training`."""

    training: TrainingResult
    eval_metrics: EvalMetrics
    strategy: str
    checkpoint_dir: str
    is_chief: bool
    warm_start: str = "cold"


def run_fn(fn_args) -> None:
    """TFX Trainer entry point (GenericExecutor)."""
    settings = TrainingSettings.from_fn_args(fn_args.custom_config[SETTINGS_KEY], fn_args.train_steps)
    # The Tuner's best hyperparameters, when a Tuner ran; else the configured ones.
    hparams = (
        Hyperparameters.from_dict(fn_args.hyperparameters["values"])
        if fn_args.hyperparameters
        else settings.hyperparameters
    )
    job = TrainingJob(
        train_files=fn_args.train_files,
        eval_files=fn_args.eval_files,
        transform_output=fn_args.transform_output,
        serving_model_dir=fn_args.serving_model_dir,
        model_run_dir=fn_args.model_run_dir,
        settings=settings,
        hparams=hparams,
        task=task_from_config(fn_args.custom_config),
        tf_config=strategy.parse_tf_config(os.environ.get("TF_CONFIG")),
        warm_start_from=_served_start(settings, fn_args.custom_config),
    )
    run_training(job)


def run_training(job: TrainingJob, on_step: StepHook | None = None) -> TrainingReport:
    """Trains (resuming from a checkpoint when one exists), evaluates and exports.

    Args:
      job: Inputs, outputs and settings.
      on_step: Called after every training step with the step number.

    Returns:
      What was trained and how well it scored on the eval split.
    """
    import tensorflow_transform as tft

    model.check_keras_3()
    if job.settings.train_epochs is not None:
        num_examples = data.count_examples(job.train_files)
        steps = job.settings.steps_for(num_examples)
        logging.info(
            "Training %d steps: %g epochs of %d examples at batch %d (at most trainer.train_steps=%d)",
            steps,
            job.settings.train_epochs,
            num_examples,
            job.settings.batch_size,
            job.settings.train_steps,
        )
        job = dataclasses.replace(job, settings=job.settings.model_copy(update={"train_steps": steps}))
    role = strategy.cluster_role(job.tf_config)
    kind = strategy.choose_strategy(job.settings.strategy, job.tf_config, len(tf.config.list_physical_devices("GPU")))
    distribution = strategy.create_strategy(kind, job.settings.tpu_address)
    transform_output = tft.TFTransformOutput(job.transform_output)
    transform = data.transformer(transform_output)
    inputs = model.model_inputs(job.task, data.vocabulary_sizes(transform_output, job.task))
    head = heads.make_head(job.task.type, transform_output, job.train_files)
    network = warm_start.describe(job.hparams, inputs, head, data.vocabularies(transform_output, job.task))
    checkpoint_dir = checkpoint_dir_for(job, architecture(inputs, head))

    trainer = TrainingLoop(
        distribution,
        role,
        job.settings,
        lambda: model.build_model(job.hparams, inputs, head.num_outputs),
        job.hparams,
        checkpoint_dir,
        head,
    )
    start = "cold"
    if job.warm_start_from:
        values, start = warm_start.plan(warm_start.load(job.warm_start_from), trainer.model, network)
        logging.info("Warm start from %s: %s", job.warm_start_from, start)
        trainer.assign_weights(values)
    training = trainer.fit(
        lambda context: data.make_dataset(
            job.train_files, transform, job.settings.batch_size, True, context, job.settings.seed
        ),
        log_dir=os.path.join(job.model_run_dir, "train"),
        on_step=on_step,
    )
    eval_dataset = data.make_dataset(job.eval_files, transform, job.settings.eval_batch_size, training=False)
    metrics = trainer.evaluate(eval_dataset, log_dir=os.path.join(job.model_run_dir, "eval"))
    export.export_serving_model(trainer.model, transform_output, job.task, head, job.serving_model_dir, role, network)
    report = TrainingReport(training, metrics, kind.value, checkpoint_dir, role.is_chief, start)
    if role.is_chief:
        _write_report(report, os.path.join(job.model_run_dir, REPORT_FILE))
        # The model is exported: nothing will resume this training, so its checkpoints go.
        if tf.io.gfile.exists(checkpoint_dir):
            tf.io.gfile.rmtree(checkpoint_dir)
    return report


def architecture(inputs: Sequence[model.ModelInput], head: heads.Head) -> dict[str, Any]:
    """Everything `model.build_model` shapes the network from, besides the hyperparameters."""
    return {
        "inputs": [dataclasses.asdict(item) for item in inputs],
        "num_outputs": head.num_outputs,
        "head": type(head).__name__,
    }


def checkpoint_dir_for(job: TrainingJob, network: dict[str, Any]) -> str:
    """A checkpoint folder keyed by everything that defines the training.

    The data, the transform, the task, the hyperparameters, the network's
    inputs and outputs, the steps, batch and seed, and the hash of the trainer
    code that runs (common/code_version.py): a re-run of the same training
    finds its checkpoints and resumes; any change, the code's included,
    starts afresh and never restores a checkpoint of another model. A finished
    training's folder is removed after the export. Without a configured
    checkpoint_root, checkpoints stay in the model run folder, new for every execution.
    """
    identity = {
        "train_files": sorted(job.train_files),
        "eval_files": sorted(job.eval_files),
        "transform_output": job.transform_output,
        "hparams": job.hparams.model_dump(),
        "task": job.task.model_dump(mode="json"),
        "network": network,
        "train_steps": job.settings.train_steps,
        "batch_size": job.settings.batch_size,
        "seed": job.settings.seed,
        "code_version": code_version(__name__),
        "warm_start_from": job.warm_start_from,
    }
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    root = job.settings.checkpoint_root or os.path.join(job.model_run_dir, "checkpoints")
    return os.path.join(root, key)


def _served_start(settings: TrainingSettings, custom_config: Mapping[str, Any]) -> str | None:
    """The newest pushed version's warm-start folder, when trainer.warm_start asks for one."""
    serving_root = (custom_config or {}).get(WARM_START_FROM_KEY)
    if not settings.warm_start or not serving_root:
        return None
    source = warm_start.newest_served_start(serving_root)
    if source is None:
        logging.info("Warm start: no pushed model under %s yet; starting cold", serving_root)
    return source


def _write_report(report: TrainingReport, path: str) -> None:
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.gfile.GFile(path, "w") as stream:
        stream.write(json.dumps(dataclasses.asdict(report), indent=2))
