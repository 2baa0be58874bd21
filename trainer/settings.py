"""Typed settings of the Tuner and Trainer: sections of the pipeline config.

pipelines/config.py composes them into the pipeline config; the components
receive them as `custom_config` and `run_fn`/`tuner_fn` validate them back into
these models, so both sides read one definition.
"""

from __future__ import annotations

from typing import Literal

import pydantic

from trainer.hyperparameters import Hyperparameters

__all__ = ["SETTINGS_KEY", "TrainingSettings", "TuningSettings"]

# The key under which settings travel in a component's custom_config.
SETTINGS_KEY = "settings"


class _Settings(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True, strict=True)


class TrainingSettings(_Settings):
    """How the Trainer trains.

    Attributes:
      num_workers: 1 runs the stock Trainer in the pipeline's process; more runs
        DistributedTrainer, which launches that many workers (launcher section).
      train_steps: Optimiser steps in total (a restart resumes towards the same total).
      batch_size: Global batch size, split across replicas; the loss is scaled to it.
      eval_batch_size: Batch size of the evaluation pass over the eval split.
      checkpoint_every_steps: Steps between checkpoints; at most this much work is lost on a crash.
      log_every_steps: Steps between TensorBoard scalars.
      strategy: auto, default, mirrored, multi_worker or tpu (see trainer/strategy.py).
      tpu_address: TPU name, 'local' on a TPU VM, or grpc://host:port; for strategy tpu.
      seed: Seed for weights and shuffling.
      hyperparameters: Used when the Tuner is off; unset keys take the model's defaults.
      checkpoint_root: Folder (or URI) shared by all workers for checkpoints; the
        pipeline sets it to <pipeline root>/checkpoints when left empty.
    """

    num_workers: int = pydantic.Field(default=1, ge=1)
    train_steps: int = pydantic.Field(ge=1)
    batch_size: int = pydantic.Field(ge=1)
    eval_batch_size: int = pydantic.Field(default=512, ge=1)
    checkpoint_every_steps: int = pydantic.Field(default=100, ge=1)
    log_every_steps: int = pydantic.Field(default=50, ge=1)
    strategy: Literal["auto", "default", "mirrored", "multi_worker", "tpu"] = "auto"
    tpu_address: str | None = None
    seed: int = 42
    hyperparameters: Hyperparameters = Hyperparameters()
    checkpoint_root: str | None = None


class TuningSettings(_Settings):
    """How the Tuner searches.

    Attributes:
      enabled: Run the Tuner; when off the Trainer uses trainer.hyperparameters.
      algorithm: KerasTuner oracle: random, bayesian or hyperband.
      max_trials: Number of hyperparameter sets tried.
      steps_per_trial: Training steps per trial (one epoch of that many steps).
      num_workers: Tuners sharing one chief oracle, started by the launcher
        (1: the stock sequential search in the pipeline's process).
    """

    enabled: bool = True
    algorithm: Literal["random", "bayesian", "hyperband"] = "random"
    max_trials: int = pydantic.Field(ge=1)
    steps_per_trial: int = pydantic.Field(ge=1)
    num_workers: int = pydantic.Field(default=1, ge=1)
