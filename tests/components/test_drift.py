"""The gate's drift measures over distributions: their definitions, ties, missing values, the label, the findings."""

from __future__ import annotations

import math

import numpy as np
import pytest

from components.validation_gate import drift
from components.validation_gate.settings import DriftThresholds, FeatureThresholds, LabelThresholds
from trainer.label_profile import LabelProfile


def _numbers(values, num_examples=None):
    return drift.from_values(list(values), num_examples or len(values), numeric=True)


def test_ks_is_zero_for_the_same_values_and_one_for_disjoint_ones():
    rng = np.random.default_rng(0)
    values = rng.lognormal(size=5000)
    assert drift.ks_distance(_numbers(values), _numbers(values)) == pytest.approx(0.0, abs=1e-12)
    assert drift.ks_distance(_numbers(values), _numbers(values + 1000)) == pytest.approx(1.0)


@pytest.mark.parametrize("scale", [1.5, 3.0])
def test_ks_of_a_scaled_lognormal_is_its_known_value(scale):
    """For log-normal X with sigma 1, KS(X, cX) = 2 Phi(ln(c) / 2) - 1."""
    rng = np.random.default_rng(1)
    values = rng.lognormal(sigma=1.0, size=200_000)
    expected = math.erf(math.log(scale) / 2 / math.sqrt(2))
    assert drift.ks_distance(_numbers(values * scale), _numbers(values)) == pytest.approx(expected, abs=0.01)


def test_a_heavy_tail_moves_ks_no_more_than_the_mass_of_its_bucket():
    rng = np.random.default_rng(2)
    base = rng.normal(size=20_000)
    outliers = base.copy()
    outliers[:20] = 1e9  # 0.1% of the values, a billion times larger
    one_bucket = 1 / drift.STATISTICS_QUANTILES
    assert drift.ks_distance(_numbers(outliers), _numbers(base)) <= one_bucket + 0.001
    assert drift.wasserstein_iqr(_numbers(outliers), _numbers(base)) > 1000, "what a tail does to a mean-based measure"


def test_ties_are_steps_of_the_cdf():
    ones_and_twos = _numbers([1.0] * 70 + [2.0] * 30)
    half = _numbers([1.0] * 50 + [2.0] * 50)
    assert drift.ks_distance(ones_and_twos, half) == pytest.approx(0.2, abs=1 / drift.STATISTICS_QUANTILES)
    # Buckets of equal mass: within one bucket's mass of the step, on either side of it.
    assert ones_and_twos.cdf(np.array([1.0]))[0] == pytest.approx(0.7, abs=1 / drift.STATISTICS_QUANTILES + 1e-9)
    assert ones_and_twos.cdf(np.array([1.0]), strictly_below=True)[0] == pytest.approx(0.0)


def test_string_shares_and_the_largest_change():
    old = drift.from_values(["cash"] * 60 + ["card"] * 40, 100, numeric=False)
    new = drift.from_values(["cash"] * 30 + ["card"] * 60 + ["app"] * 10, 100, numeric=False)
    assert drift.linf_distance(new, old) == pytest.approx(0.3)


def test_zeros_are_their_own_measure_and_ks_compares_the_other_values():
    rng = np.random.default_rng(5)
    positive = rng.lognormal(size=4000)
    fewer_zeros = _numbers([0.0] * 1000 + positive.tolist())
    more_zeros = _numbers([0.0] * 3000 + positive.tolist())
    assert more_zeros.zero_share == pytest.approx(3000 / 7000)
    assert drift.ks_distance(more_zeros, fewer_zeros) == pytest.approx(0.0, abs=0.01), (
        "the non-zero values did not move"
    )
    scaled = _numbers([0.0] * 1000 + (positive * 1.5).tolist())
    assert drift.ks_distance(scaled, fewer_zeros) > 0.15
    assert (
        drift.ks_distance(_numbers([0.0] * 10), fewer_zeros) == 1.0
        and drift.ks_distance(_numbers([0.0]), _numbers([0.0])) == 0
    )


def test_missing_values_are_their_own_measure():
    values = np.arange(100.0).tolist()
    thinner = _numbers(values[:80] + [None] * 20)
    assert thinner.missing_share == pytest.approx(0.2) and thinner.num_present == 80
    assert drift.ks_distance(thinner, _numbers(values[:80])) == 0.0, "the present values did not move"


def _statistics(values, name="x"):
    """TFDV's statistics of one numeric feature, in memory, as the pipeline's StatisticsGen computes them."""
    import tensorflow as tf

    from pipelines.drift_thresholds import statistics_of

    examples = []
    for value in values:
        example = tf.train.Example()
        if value is not None:
            example.features.feature[name].float_list.value.append(value)
        examples.append(example.SerializeToString())
    return statistics_of(examples)


def test_the_distribution_read_from_tfdv_statistics_is_the_one_of_the_values():
    rng = np.random.default_rng(3)
    values = [*rng.gamma(2.0, 3.0, size=3000).tolist(), *([None] * 300)]
    statistics = _statistics(values)
    (feature,) = statistics.features
    from_tfdv = drift.from_statistics(feature, statistics.num_examples)
    assert from_tfdv.num_examples == 3300 and from_tfdv.num_present == 3000
    assert len(from_tfdv.buckets) == drift.STATISTICS_QUANTILES
    assert drift.ks_distance(from_tfdv, _numbers(values)) < 0.015, "TFDV's quantile sketch is within its error"


def _limits(distance=0.05, missing=0.02, zeros=0.02) -> DriftThresholds:
    return DriftThresholds(features={"x": FeatureThresholds(distance=distance, missing=missing, zeros=zeros)})


def test_compare_measures_each_input_and_skips_those_turned_off():
    rng = np.random.default_rng(4)
    base = rng.normal(10, 2, size=2000).tolist()
    baseline, scaled = _statistics(base), _statistics([v * 1.5 for v in base])
    measures = {(m.feature, m.measure): m for m in drift.compare(scaled, baseline, ["x"], _limits())}
    assert measures[("x", drift.NUMERIC_DISTANCE)].exceeded
    assert not measures[("x", drift.MISSING_CHANGE)].exceeded
    assert drift.compare(scaled, baseline, ["x"], _limits(), unchecked={"x": "a reason"}) == []
    unchanged = drift.compare(_statistics(base), baseline, ["x"], _limits())
    assert not any(measure.exceeded for measure in unchanged)


def test_an_input_the_new_data_lacks_is_all_missing():
    baseline = _statistics(np.arange(50.0).tolist())
    gone = _statistics([None] * 50)
    (missing,) = [m for m in drift.compare(gone, baseline, ["x"], _limits()) if m.measure == drift.MISSING_CHANGE]
    assert missing.value == pytest.approx(1.0) and missing.exceeded


def test_the_labels_classes_by_their_population_stability_and_a_regression_labels_mean_and_spread():
    thresholds = LabelThresholds(classes=0.2, mean_shift=0.2, spread=0.2)
    before = LabelProfile(1000, ("0", "1"), class_counts={"0": 780, "1": 220})
    after = LabelProfile(1000, ("0", "1"), class_counts={"0": 980, "1": 20})
    (psi,) = drift.label_measures(after, before, "binary", thresholds)
    expected = (0.02 - 0.22) * math.log(0.02 / 0.22) + (0.98 - 0.78) * math.log(0.98 / 0.78)
    assert psi.feature == drift.LABEL_FEATURE and psi.value == pytest.approx(expected) and psi.exceeded
    # A larger move in shares between common classes counts for less than a class all but vanishing.
    seasonal = LabelProfile(1000, ("0", "1"), class_counts={"0": 850, "1": 150})
    later = LabelProfile(1000, ("0", "1"), class_counts={"0": 730, "1": 270})
    assert not drift.label_measures(later, seasonal, "binary", thresholds)[0].exceeded
    assert drift.class_psi({"a": 1.0}, {"b": 1.0}) > 10, "a class that vanishes and one that appears"
    old = LabelProfile(1000, ("1",), mean=10.0, std=2.0)
    shifted, wider = LabelProfile(1000, ("1",), mean=11.0, std=2.0), LabelProfile(1000, ("1",), mean=10.0, std=3.0)
    assert [m.exceeded for m in drift.label_measures(shifted, old, "regression", thresholds)] == [True, False]
    assert [m.exceeded for m in drift.label_measures(wider, old, "regression", thresholds)] == [False, True]


def test_a_finding_names_the_feature_the_measure_and_where_to_raise_the_threshold():
    measure = drift.DriftMeasure("fare", drift.NUMERIC_DISTANCE, 0.31, 0.06, "drift")
    nan = drift.DriftMeasure("fare", drift.NUMERIC_DISTANCE, float("nan"), 0.06, "drift")
    assert nan.exceeded, "a NaN is never below a threshold"
    (finding,) = drift.findings([measure, drift.DriftMeasure("x", "m", 0.01, 0.06, "drift")], "the baseline")
    assert finding.feature == "fare" and finding.anomaly == f"drift: {drift.NUMERIC_DISTANCE}"
    assert "0.3100 from the baseline, above the threshold 0.06" in finding.description
    assert "validation.drift_thresholds" in finding.description


def test_the_noise_bounds_are_the_sampling_noise_they_name():
    """Each bound is the 99th percentile of its measure between two samples of one distribution."""
    rng = np.random.default_rng(7)
    n, m = 300, 2000
    population = rng.lognormal(size=200_000)
    ks = [
        drift.ks_distance(_numbers(rng.choice(population, n)), _numbers(rng.choice(population, m))) for _ in range(300)
    ]
    # TFDV-style buckets smooth the CDFs a little: the bound is a little above the empirical percentile.
    assert np.percentile(ks, 99) <= drift.ks_noise(n, m) <= 1.3 * np.percentile(ks, 99)
    shares = rng.binomial(n, 0.2, 2000) / n - rng.binomial(m, 0.2, 2000) / m
    assert np.percentile(np.abs(shares), 99) == pytest.approx(drift.share_noise(0.2, n, m), rel=0.15)
    psi = []
    for _ in range(2000):
        a, b = rng.multinomial(n, [0.5, 0.3, 0.2]) / n, rng.multinomial(m, [0.5, 0.3, 0.2]) / m
        psi.append(drift.class_psi(dict(enumerate(a)), dict(enumerate(b))))
    assert np.percentile(psi, 99) == pytest.approx(drift.psi_noise(3, n, m), rel=0.2)


def test_a_smaller_span_than_the_thresholds_were_measured_at_gets_them_raised_by_its_extra_noise():
    rng = np.random.default_rng(8)
    base = rng.normal(10, 2, size=2500).tolist()
    baseline = _statistics(base)
    limits = _limits(distance=0.06).model_copy(update={"rows": 2500})
    same_size = drift.compare(_statistics(rng.normal(10, 2, size=2500).tolist()), baseline, ["x"], limits)
    (distance,) = [m for m in same_size if m.measure == drift.NUMERIC_DISTANCE]
    assert distance.threshold == pytest.approx(0.06), "at the measured size, the file's threshold"
    small = _statistics(rng.normal(10, 2, size=120).tolist())
    (raised,) = [m for m in drift.compare(small, baseline, ["x"], limits) if m.measure == drift.NUMERIC_DISTANCE]
    extra = drift.ks_noise(120, 2500) - drift.ks_noise(2500, 2500)
    assert raised.threshold == pytest.approx(0.06 + drift.NOISE_MARGIN * extra) and not raised.exceeded
    (unraised,) = [m for m in drift.compare(small, baseline, ["x"], _limits(0.06)) if m.measure == raised.measure]
    assert unraised.threshold == 0.06, "a file without `rows` keeps its thresholds"
    scaled = _statistics([v * 1.5 for v in rng.normal(10, 2, size=120)])
    (caught,) = [m for m in drift.compare(scaled, baseline, ["x"], limits) if m.measure == raised.measure]
    assert caught.exceeded, "a unit change is still caught on the small span"
    collapsed = LabelProfile(120, ("0", "1"), class_counts={"0": 118, "1": 2})
    before = LabelProfile(2500, ("0", "1"), class_counts={"0": 1950, "1": 550})
    (psi,) = drift.label_measures(collapsed, before, "binary", LabelThresholds(classes=0.12), rows=2500)
    assert psi.threshold > 0.12 and psi.exceeded
