"""The one registry of column names and roles, checked against schemas/taxi/schema.pbtxt.

Types, presence and value domains live in the schema (the data contract); this
module says what the code does with each column. tests/trainer/test_features.py
fails when the two disagree.
"""

from __future__ import annotations

import dataclasses
import enum

__all__ = [
    "FEATURES",
    "LABEL_KEY",
    "LABEL_SOURCE",
    "TIP_FRACTION_THRESHOLD",
    "UNUSED_COLUMNS",
    "Feature",
    "FeatureKind",
    "all_columns",
    "feature_names",
    "is_big_tipper",
    "transformed_name",
]


class FeatureKind(enum.Enum):
    """How a model input is transformed; each kind accepts certain schema types."""

    NUMERIC = "numeric"  # z-score scaled
    COORDINATE = "coordinate"  # bucketised into quantiles
    CATEGORICAL_INT = "categorical_int"  # small integer ids
    CATEGORICAL_STRING = "categorical_string"  # vocabulary with OOV bucket

    @property
    def schema_types(self) -> frozenset[str]:
        """Schema `type` values (INT, FLOAT, BYTES) this kind can read."""
        return _SCHEMA_TYPES_BY_KIND[self]


_SCHEMA_TYPES_BY_KIND = {
    FeatureKind.NUMERIC: frozenset({"INT", "FLOAT"}),
    FeatureKind.COORDINATE: frozenset({"FLOAT"}),
    FeatureKind.CATEGORICAL_INT: frozenset({"INT"}),
    FeatureKind.CATEGORICAL_STRING: frozenset({"BYTES"}),
}


@dataclasses.dataclass(frozen=True)
class Feature:
    """A model input column."""

    name: str
    kind: FeatureKind


FEATURES: tuple[Feature, ...] = (
    Feature("fare", FeatureKind.NUMERIC),
    Feature("trip_miles", FeatureKind.NUMERIC),
    Feature("trip_seconds", FeatureKind.NUMERIC),
    Feature("pickup_latitude", FeatureKind.COORDINATE),
    Feature("pickup_longitude", FeatureKind.COORDINATE),
    Feature("dropoff_latitude", FeatureKind.COORDINATE),
    Feature("dropoff_longitude", FeatureKind.COORDINATE),
    Feature("trip_start_hour", FeatureKind.CATEGORICAL_INT),
    Feature("trip_start_day", FeatureKind.CATEGORICAL_INT),
    Feature("trip_start_month", FeatureKind.CATEGORICAL_INT),
    Feature("pickup_community_area", FeatureKind.CATEGORICAL_INT),
    Feature("dropoff_community_area", FeatureKind.CATEGORICAL_INT),
    Feature("payment_type", FeatureKind.CATEGORICAL_STRING),
    Feature("company", FeatureKind.CATEGORICAL_STRING),
)

# The label is derived: a "big tipper" tipped more than this fraction of the fare.
LABEL_SOURCE = "tips"
# The Transform output holding the label (already a transformed name).
LABEL_KEY = "big_tipper_xf"
TIP_FRACTION_THRESHOLD = 0.2


def is_big_tipper(tips, fare):
    """The label rule, on Python numbers or on tensors alike: tips above the fraction of the fare."""
    return tips > TIP_FRACTION_THRESHOLD * fare


# Columns in the data that the model does not read; listed so that a new,
# unknown column in the schema is noticed rather than silently ignored.
UNUSED_COLUMNS: tuple[str, ...] = (
    "trip_start_timestamp",  # orders spans; a raw timestamp does not generalise
    "pickup_census_tract",  # present in 1 of 15k sample rows
    "dropoff_census_tract",  # 28% missing, high cardinality; the community area carries it
)


def feature_names(kind: FeatureKind | None = None) -> tuple[str, ...]:
    """Names of the model inputs, optionally of one kind, in registry order."""
    return tuple(feature.name for feature in FEATURES if kind is None or feature.kind is kind)


def all_columns() -> frozenset[str]:
    """Every column the schema must define: inputs, label source and unused ones."""
    return frozenset(feature_names()) | {LABEL_SOURCE} | frozenset(UNUSED_COLUMNS)


def transformed_name(name: str) -> str:
    """Name of a column after Transform; distinct so raw and transformed never mix."""
    return f"{name}_xf"
