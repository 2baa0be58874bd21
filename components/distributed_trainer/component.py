"""DistributedTrainer: TFX's Trainer whose run_fn runs on N workers (local processes or pods).

Same inputs and outputs as the stock Trainer (Model, ModelRun), so Evaluator
and Pusher consume it unchanged.
"""

from __future__ import annotations

from tfx.components.trainer import component as trainer_component
from tfx.dsl.components.base import executor_spec

from components.distributed_trainer import executor

__all__ = ["DistributedTrainer"]


class DistributedTrainer(trainer_component.Trainer):
    """Trainer that launches run_fn on custom_config['num_workers'] workers through custom_config['launcher']."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)
