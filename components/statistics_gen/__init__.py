"""FastStatisticsExecutor, an executor swap for TFX's StatisticsGen, and its errors on mixed value types."""

from components.statistics_gen.executor import FastStatisticsExecutor
from components.statistics_gen.type_conflicts import DataTypeError

__all__ = ["DataTypeError", "FastStatisticsExecutor"]
