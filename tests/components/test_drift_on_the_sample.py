"""The drift gate on the taxi sample: every natural span passes, every generated shift is stopped, naming the feature.

The sample is cut by trip time into 4 spans (every later span against every
earlier one: 6 pairs), the gate's measures are computed on TFDV's statistics
as StatisticsGen writes them, and the thresholds are the committed file
`schemas/taxi/drift.yaml`, which must be what `make bench-drift` derives.
"""

from __future__ import annotations

import pytest

from benchmarks import span_drift
from components.validation_gate import drift
from pipelines import config as config_lib
from pipelines import drift_thresholds
from tests.conftest import LOCAL_CONFIG

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def sample():
    config = config_lib.load_config(LOCAL_CONFIG, check_local_paths=False)
    return span_drift.Sample(config, num_spans=4)


def test_the_committed_thresholds_are_the_measured_ones(sample):
    config = config_lib.load_config(LOCAL_CONFIG, check_local_paths=False)
    assert config_lib.load_drift_thresholds(config) == sample.thresholds, "re-derive them: make bench-drift"
    committed = open(config.validation.drift_thresholds, encoding="utf-8").read()
    assert committed == drift_thresholds.to_yaml(sample.derivation, span_drift.SOURCE)


def test_every_model_input_is_checked_unless_turned_off_with_a_reason(sample):
    every_input = {feature.name for feature in sample.task.features}
    assert set(sample.thresholds.features) | set(sample.unchecked) == every_input
    assert all(reason.strip() for reason in sample.unchecked.values())


def test_one_features_statistics_alone_are_the_ones_it_has_among_all(sample):
    for name in sample.scaled:
        alone = sample.with_feature(sample.statistics[0], sample.spans[0], name)
        (whole,) = [f for f in sample.statistics[0].features if ".".join(f.path.step) == name]
        (spliced,) = [f for f in alone.features if ".".join(f.path.step) == name]
        assert spliced == whole, name
        assert len(alone.features) == len(sample.statistics[0].features)


def test_no_natural_span_is_stopped(sample):
    alarms = span_drift.false_alarms(sample)
    assert {name: count for name, count in alarms.items() if count} == {}


def test_every_shift_of_every_numeric_input_and_the_labels_collapse_is_stopped_in_every_pair(sample):
    detected = span_drift.detections(sample)
    pairs = len(sample.pairs)
    assert sample.scaled, "the sample has numeric inputs"
    missed = {
        (name, shift): f"{detected.get((name, shift), 0)}/{pairs}"
        for name in sample.scaled
        for shift in span_drift.SHIFTS
        if detected.get((name, shift), 0) != pairs
    }
    assert missed == {}
    assert detected[(drift.LABEL_FEATURE, span_drift.LABEL_SHIFT)] == pairs
