"""Typed settings of the Tuner and Trainer: sections of the pipeline config.

pipelines/config.py composes them into the pipeline config; the components
receive them as `custom_config` and `run_fn`/`tuner_fn` validate them back into
these models, so both sides read one definition.
"""

from __future__ import annotations

import math
from typing import Literal

import pydantic

from trainer.hyperparameters import Hyperparameters

__all__ = [
    "SETTINGS_KEY",
    "BatchSettings",
    "FeatureOverride",
    "FeatureSelection",
    "TaskSettings",
    "TaskType",
    "TrainingSettings",
    "TuningSettings",
]

# The key under which settings travel in a component's custom_config.
SETTINGS_KEY = "settings"

TaskType = Literal["binary", "multiclass", "regression"]


def _steps(max_steps: int, epochs: float | None, num_examples: int, batch_size: int) -> int:
    """`epochs` passes over `num_examples` at `batch_size`, at most `max_steps`; `max_steps` when epochs is unset."""
    if epochs is None:
        return max_steps
    return max(1, min(max_steps, math.ceil(epochs * num_examples / batch_size)))


class _Settings(pydantic.BaseModel):
    # Not a number or infinite is never a setting: a YAML .nan or .inf is refused, naming the key.
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class TrainingSettings(_Settings):
    """How the Trainer trains.

    Attributes:
      num_workers: 1 runs the stock Trainer in the pipeline's process; more runs
        the Trainer launches that many workers (launcher section).
      train_steps: Optimiser steps in total (a restart resumes towards the same
        total); with train_epochs, the most steps the epochs may take.
      train_epochs: Passes over the training split (all spans of the window);
        the steps follow the split's size, capped at train_steps. Unset: train_steps.
      batch_size: Global batch size, split across replicas; the loss is scaled to it.
      eval_batch_size: Batch size of the evaluation pass over the eval split.
      checkpoint_every_steps: Steps between checkpoints; at most this much work is lost on a crash.
      log_every_steps: Steps between TensorBoard scalars.
      steps_per_execution: Training steps run in one call of the training
        graph (a loop inside it), as Keras' `steps_per_execution`: fewer
        round trips from Python for small models. A call never crosses a log
        or checkpoint step, so the same steps are logged and saved.
      strategy: auto, default, mirrored, multi_worker or tpu (see trainer/strategy.py).
      tpu_address: TPU name, 'local' on a TPU VM, or grpc://host:port; for strategy tpu.
      seed: Seed for weights and shuffling.
      hyperparameters: Used when the Tuner is off; unset keys take the model's defaults.
      checkpoint_root: Folder (or URI) shared by all workers for checkpoints; the
        pipeline sets it to <pipeline root>/checkpoints when left empty.
      warm_start: Start from the served model's weights when the architecture
        fits (vocabularies may grow); otherwise start cold, saying why.
    """

    num_workers: int = pydantic.Field(default=1, ge=1)
    train_steps: int = pydantic.Field(ge=1)
    train_epochs: float | None = pydantic.Field(default=None, gt=0)
    batch_size: int = pydantic.Field(ge=1)
    eval_batch_size: int = pydantic.Field(default=512, ge=1)
    checkpoint_every_steps: int = pydantic.Field(default=100, ge=1)
    log_every_steps: int = pydantic.Field(default=50, ge=1)
    steps_per_execution: int = pydantic.Field(default=10, ge=1)
    strategy: Literal["auto", "default", "mirrored", "multi_worker", "tpu"] = "auto"
    tpu_address: str | None = None
    seed: int = 42
    hyperparameters: Hyperparameters = Hyperparameters()
    checkpoint_root: str | None = None
    warm_start: bool = False

    def steps_for(self, num_examples: int) -> int:
        """The steps to train on `num_examples` training examples: train_epochs' worth, at most train_steps."""
        return _steps(self.train_steps, self.train_epochs, num_examples, self.batch_size)

    def custom_config(self) -> dict:
        """The Trainer's custom_config part: all but train_steps, which travels as TFX's TrainArgs.num_steps."""
        return self.model_dump(mode="json", exclude={"train_steps"})

    @classmethod
    def from_fn_args(cls, custom_config_part: dict, train_steps: int) -> TrainingSettings:
        """The settings back from `custom_config()` and FnArgs.train_steps."""
        return cls.model_validate({**custom_config_part, "train_steps": train_steps})

    def batching(self) -> BatchSettings:
        """What a tuning trial shares with training: batches and seed, so tuned values transfer."""
        return BatchSettings(batch_size=self.batch_size, eval_batch_size=self.eval_batch_size, seed=self.seed)


class BatchSettings(_Settings):
    """The part of the training settings the Tuner reads; nothing else reaches its cache key.

    Attributes:
      batch_size: Global training batch size.
      eval_batch_size: Batch size of the validation pass.
      seed: Seed for weights and shuffling.
    """

    batch_size: int = pydantic.Field(ge=1)
    eval_batch_size: int = pydantic.Field(default=512, ge=1)
    seed: int = 42


class TuningSettings(_Settings):
    """How the Tuner searches.

    Attributes:
      enabled: Run the Tuner; when off the Trainer uses trainer.hyperparameters.
      algorithm: KerasTuner oracle: random, bayesian or hyperband.
      max_trials: Number of hyperparameter sets tried.
      steps_per_trial: Training steps per trial (one epoch of that many steps);
        with epochs_per_trial, the most steps a trial may take.
      epochs_per_trial: Passes over the training split per trial; the steps
        follow the split's size, capped at steps_per_trial. Unset: steps_per_trial.
      validation_examples: The most eval examples each trial is scored on:
        the first ones of the eval split (rounded up to whole eval batches);
        None scores every trial on the whole split.
      num_workers: Tuners sharing one chief oracle, started by the launcher
        (1: the stock sequential search in the pipeline's process).
    """

    enabled: bool = True
    algorithm: Literal["random", "bayesian", "hyperband"] = "random"
    max_trials: int = pydantic.Field(ge=1)
    steps_per_trial: int = pydantic.Field(ge=1)
    epochs_per_trial: float | None = pydantic.Field(default=None, gt=0)
    validation_examples: int | None = pydantic.Field(default=100_000, ge=1)
    num_workers: int = pydantic.Field(default=1, ge=1)

    def steps_for(self, num_examples: int, batch_size: int) -> int:
        """Training steps of one trial on `num_examples` examples: epochs_per_trial's worth, at most steps_per_trial."""
        return _steps(self.steps_per_trial, self.epochs_per_trial, num_examples, batch_size)

    def custom_config(self) -> dict:
        """The Tuner's custom_config part: what changes the search, less steps_per_trial (TFX's TrainArgs.num_steps).

        `enabled` and `num_workers` change whether and where the search runs, not what it finds.
        """
        return self.model_dump(mode="json", exclude={"enabled", "num_workers", "steps_per_trial"})

    @classmethod
    def from_fn_args(cls, custom_config_part: dict, train_steps: int) -> TuningSettings:
        """The settings back from `custom_config()` and FnArgs.train_steps."""
        return cls.model_validate({**custom_config_part, "steps_per_trial": train_steps})

    def validation_batches(self, num_eval_examples: int, eval_batch_size: int) -> int:
        """Eval batches a trial is scored on: the whole split's, at most validation_examples' (whole batches)."""
        examples = num_eval_examples
        if self.validation_examples is not None:
            examples = min(examples, self.validation_examples)
        return -(-examples // eval_batch_size)


class FeatureOverride(_Settings):
    """How one input is transformed, where the schema's default is not wanted.

    Attributes:
      kind: `numeric` (z-score), `bucketized` (quantile buckets) or
        `categorical` (vocabulary with an OOV bucket); default from the schema.
      num_buckets: Quantile buckets of a bucketized input (default 10).
      log1p: Apply log(1 + x) before scaling (heavy-tailed values); the schema
        must bound the values at 0 or above, or set clip_min.
      clip_min: Values below are raised to it (before log1p).
      clip_max: Values above are lowered to it.
      top_k: A categorical input keeps only its k most frequent values; the rest share the OOV bucket.
    """

    kind: Literal["numeric", "bucketized", "categorical"] | None = None
    num_buckets: int | None = pydantic.Field(default=None, ge=2)
    log1p: bool = False
    clip_min: float | None = None
    clip_max: float | None = None
    top_k: int | None = pydantic.Field(default=None, ge=1)


class FeatureSelection(_Settings):
    """Which schema features the model reads, and how.

    Attributes:
      exclude: Schema features the model must not read (ids, timestamps, leaks).
      overrides: Per-feature changes to the transform the schema implies.
    """

    exclude: tuple[str, ...] = pydantic.Field(default=(), strict=False)
    overrides: dict[str, FeatureOverride] = {}


class TaskSettings(_Settings):
    """What the model predicts: the `task:` section of the pipeline config.

    Attributes:
      type: `binary`, `multiclass` or `regression`.
      label: The column to predict or, with label_expression or label_fn, the
        name of the derived label.
      label_expression: Derives the label from raw columns, e.g.
        `revenue > 1.5 * cost` (see trainer/expressions.py for the language).
      label_fn: The extension point for labels an expression cannot say: the
        dotted path of a function `(raw inputs) -> label tensor`, run inside Transform.
      positive_class: Binary only: the label value that counts as positive
        (required for a string label; default 1 or true otherwise).
      features: Which schema features are model inputs (default: every feature
        available at serving, except the label and its sources) and overrides.
      slices: Features the Evaluator reports metrics for, value by value.
    """

    type: TaskType
    label: str = pydantic.Field(min_length=1)
    label_expression: str | None = None
    label_fn: str | None = None
    positive_class: str | int | bool | None = None
    features: FeatureSelection = FeatureSelection()
    slices: tuple[str, ...] = pydantic.Field(default=(), strict=False)

    @pydantic.model_validator(mode="after")
    def _one_label_source(self) -> TaskSettings:
        if self.label_expression and self.label_fn:
            raise ValueError("set label_expression or label_fn, not both")
        if self.positive_class is not None and self.type != "binary":
            raise ValueError(f"positive_class applies to binary tasks only; type is {self.type}")
        return self
