"""Tuner: TFX's Tuner component with an executor that keeps the search's logs."""

from __future__ import annotations

from tfx.components.tuner import component as tuner_component
from tfx.dsl.components.base import executor_spec

from components.tuner import executor

__all__ = ["Tuner"]


class Tuner(tuner_component.Tuner):
    """Same inputs, outputs and `tuner_fn` contract as tfx Tuner; trials persist in tuner_results."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)
