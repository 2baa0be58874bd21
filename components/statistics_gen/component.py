"""StatisticsGen: TFX's StatisticsGen whose failures on mixed value types name the feature."""

from __future__ import annotations

from tfx.components.statistics_gen import component as statistics_gen_component
from tfx.dsl.components.base import executor_spec

from components.statistics_gen import executor

__all__ = ["StatisticsGen"]


class StatisticsGen(statistics_gen_component.StatisticsGen):
    """Same inputs, outputs and statistics as tfx StatisticsGen; see executor.py for the difference."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)
