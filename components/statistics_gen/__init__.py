"""StatisticsGen: TFX's StatisticsGen, with errors on mixed value types that name the feature."""

from components.statistics_gen.component import StatisticsGen
from components.statistics_gen.type_conflicts import DataTypeError

__all__ = ["DataTypeError", "StatisticsGen"]
