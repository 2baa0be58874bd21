"""The validation gate's trainability checks: too few examples, non-finite numbers, a label with nothing to learn."""

from __future__ import annotations

import math

import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from components.validation_gate import trainability
from components.validation_gate.gate import DATASET_FEATURE
from trainer import features, label_profile
from trainer.settings import TaskSettings

SCHEMA = """
default_environment: "TRAINING"
default_environment: "SERVING"
feature { name: "price" type: FLOAT presence { min_fraction: 1.0 } shape { dim { size: 1 } } }
feature { name: "city" type: BYTES presence { min_fraction: 1.0 } shape { dim { size: 1 } } }
feature { name: "spend" type: FLOAT presence { min_fraction: 1.0 } shape { dim { size: 1 } }
          not_in_environment: "SERVING" }
feature { name: "tier" type: BYTES presence { min_fraction: 1.0 } shape { dim { size: 1 } }
          not_in_environment: "SERVING" }
"""


def _task(**settings) -> features.TaskSpec:
    schema = text_format.Parse(SCHEMA, schema_pb2.Schema())
    return features.resolve_task(schema, TaskSettings.model_validate(settings))


def _statistics(
    num_examples: int, numbers: dict[str, dict], strings: dict[str, int] = ()
) -> statistics_pb2.DatasetFeatureStatistics:
    """Statistics of a split: numeric features as {name: num_stats fields}, string features as {name: num_missing}."""
    dataset = statistics_pb2.DatasetFeatureStatistics(num_examples=num_examples)
    for name, values in numbers.items():
        feature = dataset.features.add()
        feature.path.step.append(name)
        nans = values.pop("num_nan", 0)
        feature.num_stats.CopyFrom(statistics_pb2.NumericStatistics(**values))
        feature.num_stats.histograms.add(num_nan=nans)
    for name, missing in dict(strings).items():
        feature = dataset.features.add()
        feature.path.step.append(name)
        feature.string_stats.common_stats.num_missing = missing
    return dataset


def test_a_healthy_split_has_no_findings():
    task = _task(type="regression", label="spend")
    statistics = {"train": _statistics(500, {"price": {"min": 0, "max": 9}, "spend": {"min": 1, "max": 2}})}
    assert trainability.statistics_findings(statistics, task, min_examples=100) == []


def test_too_few_examples_stop_every_split_that_has_them():
    task = _task(type="regression", label="spend")
    statistics = {"train": _statistics(120, {}), "eval": _statistics(40, {})}
    (finding,) = trainability.statistics_findings(statistics, task, min_examples=100)
    assert (finding.split, finding.feature, finding.anomaly) == ("eval", DATASET_FEATURE, "too few examples")
    assert "40 examples, fewer than validation.min_examples (100)" in finding.description


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"min": 0, "max": 9, "num_nan": 3}, "3 NaN in a model input"),
        ({"min": 0, "max": math.inf}, "infinite values (min 0, max inf) in a model input"),
        ({"min": -math.inf, "max": 1, "num_nan": 1}, "1 NaN and infinite values (min -inf, max 1)"),
    ],
)
def test_non_finite_numbers_in_an_input_are_named(values, expected):
    task = _task(type="regression", label="spend")
    (finding,) = trainability.statistics_findings({"train": _statistics(500, {"price": values})}, task, 100)
    assert (finding.feature, finding.anomaly) == ("price", "non-finite values")
    assert expected in finding.description and "task.features.exclude" in finding.description


def test_a_nan_in_a_regression_label_column_is_named_as_the_label():
    task = _task(type="regression", label="spend")
    (finding,) = trainability.statistics_findings({"train": _statistics(500, {"spend": {"num_nan": 2}})}, task, 100)
    assert finding.feature == "spend" and "2 NaN in the label" in finding.description


def test_a_missing_label_in_the_train_split_is_named():
    task = _task(type="multiclass", label="tier")
    (finding,) = trainability.statistics_findings({"train": _statistics(500, {}, {"tier": 7})}, task, 100)
    assert (finding.feature, finding.anomaly) == ("tier", "label missing")
    assert "missing in 7 of 500 examples" in finding.description


def _batches(**columns):
    """One parsed batch of raw [batch, 1] tensors."""
    return [{name: tf.constant([[value] for value in values]) for name, values in columns.items()}]


def test_a_derived_binary_label_with_one_class_is_found():
    task = _task(type="binary", label="big", label_expression="spend > 100")
    profile = label_profile.profile(_batches(spend=[1.0, 5.0, 20.0]), task)
    assert profile.num_examples == 3 and profile.distinct == ("0",)
    (finding,) = trainability.label_findings(profile, task)
    assert (
        finding.anomaly == "a single class" and "every one of the 3 examples has the label '0'" in finding.description
    )
    two = label_profile.profile(_batches(spend=[1.0, 500.0]), task)
    assert trainability.label_findings(two, task) == []


def test_a_multiclass_label_with_one_class_is_found():
    task = _task(type="multiclass", label="tier")
    profile = label_profile.profile(_batches(tier=[b"gold", b"gold"]), task)
    (finding,) = trainability.label_findings(profile, task)
    assert "has the label 'gold'" in finding.description


def test_a_constant_or_non_finite_regression_label_is_found():
    task = _task(type="regression", label="spend")
    constant = label_profile.profile(_batches(spend=[3.5, 3.5, 3.5]), task)
    assert constant.std == 0.0
    (finding,) = trainability.label_findings(constant, task)
    assert finding.anomaly == "no variance" and "the label is 3.5 in all 3 examples" in finding.description
    with_nan = label_profile.profile(_batches(spend=[1.0, float("nan"), 4.0]), task)
    assert [f.anomaly for f in trainability.label_findings(with_nan, task)] == ["non-finite label"]


def test_the_profile_counts_every_class_and_survives_a_round_trip():
    task = _task(type="binary", label="big", label_expression="spend > 100")
    profile = label_profile.profile(_batches(spend=[1.0, 500.0, 700.0, 20.0, 900.0]), task)
    assert profile.class_counts == {"0": 2, "1": 3}
    assert profile.class_shares() == {"0": 0.4, "1": 0.6}
    assert label_profile.LabelProfile.from_json(profile.to_json()) == profile
    regression = label_profile.profile(
        _batches(spend=[1.0, 3.0, float("inf")]), _task(type="regression", label="spend")
    )
    assert (regression.mean, regression.std, regression.num_non_finite) == (2.0, 1.0, 1)
    assert regression.class_counts == {}
