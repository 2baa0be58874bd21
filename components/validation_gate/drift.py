"""Drift and skew: a span's distributions against a baseline's, each model input and the label.

Pure functions over what TFDV's statistics already hold (no second pass over
the data):
- a number is compared in two parts: the change in its share of zeros (a
  count, an amount or a duration often has many, and how many can change on
  its own), and the Kolmogorov-Smirnov distance between the two distributions
  of its non-zero values: the largest gap between their CDFs, each read from
  TFDV's quantile histogram (mass spread evenly within a bucket, a bucket of
  one value a step) and TFDV's count of zeros. It is bounded (0 to 1), blind
  to the units, and a heavy tail moves it no more than any other mass, so its
  noise between normal spans is small and stable; docs/benchmarks.md,
  "Drift", measures it against the population stability index, the
  Wasserstein distance and TFDV's Jensen-Shannon divergence on the sample;
- a string by the L-infinity distance between the shares of its values;
- both by the change in the share of examples without a value;
- the label by the population stability index over its classes' shares
  (classification), or its mean and spread (regression), from the label
  profiles (trainer/label_profile.py).
Thresholds are measured at the span size the data had (`rows` of the
thresholds file, pipelines/drift_thresholds.py); a smaller span's sampling noise
is larger, so its thresholds rise by NOISE_MARGIN x the growth of the 99th
percentile of the noise from two spans of `rows` to the sizes compared (the
two-sample Kolmogorov-Smirnov bound; the normal bound on a change of a share;
the chi-squared bound on the population stability index).
Every measure above its threshold (settings.py) is a blocking finding that
names the feature, the measure, its value and the threshold; every measure is
also a TensorBoard scalar per span. The schema's own TFDV comparators
(`drift_comparator`, `skew_comparator`) are applied too, by TFDV.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

from components.validation_gate.gate import Finding, Severity
from components.validation_gate.settings import DriftThresholds, FeatureThresholds, LabelThresholds
from trainer.label_profile import LabelProfile

__all__ = [
    "LABEL_CLASSES",
    "LABEL_FEATURE",
    "MISSING_CHANGE",
    "NOISE_MARGIN",
    "NUMERIC_DISTANCE",
    "STATISTICS_QUANTILES",
    "STRING_DISTANCE",
    "ZEROS_CHANGE",
    "Distribution",
    "DriftMeasure",
    "class_psi",
    "compare",
    "findings",
    "from_statistics",
    "from_values",
    "ks_distance",
    "ks_noise",
    "label_measures",
    "linf_distance",
    "psi",
    "psi_noise",
    "schema_comparators",
    "share_noise",
    "statistics_options",
    "wasserstein_iqr",
    "write_scalars",
]

LABEL_FEATURE = "(label)"
# Buckets of the quantile histograms StatisticsGen writes (statistics_options): the measures' resolution.
STATISTICS_QUANTILES = 100
NUMERIC_DISTANCE = "Kolmogorov-Smirnov distance"
STRING_DISTANCE = "L-infinity distance"
MISSING_CHANGE = "change in the share missing"
ZEROS_CHANGE = "change in the share of zeros"
LABEL_CLASSES = "population stability index of the classes"
# A smaller span's threshold rises by this many times its extra sampling noise.
NOISE_MARGIN = 1.5
_KS_99 = 1.628  # the two-sample Kolmogorov-Smirnov statistic's 1% critical value, times sqrt(nm / (n + m))
_NORMAL_99 = 2.576  # two-sided 1% of the normal
_MEASURE_NAMES = {
    anomalies_pb2.DriftSkewInfo.Measurement.L_INFTY: "L-infinity distance",
    anomalies_pb2.DriftSkewInfo.Measurement.JENSEN_SHANNON_DIVERGENCE: "Jensen-Shannon divergence",
    anomalies_pb2.DriftSkewInfo.Measurement.NORMALIZED_ABSOLUTE_DIFFERENCE: "normalized absolute difference",
}


@dataclasses.dataclass(frozen=True)
class Distribution:
    """One feature over a split: how many examples have a value, and how the values are spread.

    Attributes:
      num_examples: Examples in the split.
      num_present: Examples with a value.
      buckets: Numbers: (low, high, weight) of equal-mass buckets, lowest first.
      zero_share: Numbers: the share of zeros among the present values.
      shares: Strings: each value's share of the present values.
    """

    num_examples: int
    num_present: int
    buckets: tuple[tuple[float, float, float], ...] = ()
    zero_share: float = 0.0
    shares: Mapping[str, float] = dataclasses.field(default_factory=dict)

    @property
    def missing_share(self) -> float:
        return 1.0 - self.num_present / self.num_examples if self.num_examples else 0.0

    @property
    def is_numeric(self) -> bool:
        return bool(self.buckets)

    def cdf(self, points: np.ndarray, strictly_below: bool = False) -> np.ndarray:
        """The share of present values at or below each point (below it, with `strictly_below`)."""
        lows, highs, weights = (np.array(column, dtype=np.float64) for column in zip(*self.buckets, strict=True))
        points = np.asarray(points, dtype=np.float64)[:, None]
        width = highs - lows
        inside = np.clip((points - lows) / np.where(width > 0, width, 1.0), 0.0, 1.0)
        reached = (points > lows) if strictly_below else (points >= lows)
        covered = np.where(width > 0, inside, reached.astype(np.float64))
        return (covered * weights).sum(axis=1) / weights.sum()

    def nonzero_cdf(self, points: np.ndarray, strictly_below: bool = False) -> np.ndarray:
        """`cdf` of the non-zero values alone (their share at or below each point)."""
        if self.zero_share >= 1.0:
            return np.zeros(len(points))
        points = np.asarray(points, dtype=np.float64)
        zeros = self.zero_share * ((points > 0) if strictly_below else (points >= 0))
        return np.clip((self.cdf(points, strictly_below) - zeros) / (1.0 - self.zero_share), 0.0, 1.0)

    def quantile(self, probability: float) -> float:
        """The value below which `probability` of the present values lie (linear within a bucket)."""
        weights = np.array([weight for _, _, weight in self.buckets])
        cumulative = np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
        index = int(np.clip(np.searchsorted(cumulative, probability, side="right") - 1, 0, len(self.buckets) - 1))
        low, high, _ = self.buckets[index]
        span = cumulative[index + 1] - cumulative[index]
        return low + (high - low) * ((probability - cumulative[index]) / span if span > 0 else 0.0)


def statistics_options():
    """TFDV's options for StatisticsGen: its defaults, with STATISTICS_QUANTILES quantile buckets."""
    import tensorflow_data_validation as tfdv

    return tfdv.StatsOptions(num_quantiles_histogram_buckets=STATISTICS_QUANTILES)


def from_statistics(feature: statistics_pb2.FeatureNameStatistics, num_examples: int) -> Distribution | None:
    """A feature's distribution from TFDV's statistics, or None when they hold no values of it."""
    if feature.HasField("num_stats"):
        common = feature.num_stats.common_stats
        histogram = next(
            (h for h in feature.num_stats.histograms if h.type == statistics_pb2.Histogram.QUANTILES), None
        )
        buckets = tuple(
            (bucket.low_value, bucket.high_value, bucket.sample_count)
            for bucket in (histogram.buckets if histogram is not None else ())
            if bucket.sample_count > 0
        )
        if not buckets:
            return None
        present = _num_present(common)
        return Distribution(num_examples, present, buckets, zero_share=feature.num_stats.num_zeros / max(present, 1))
    if feature.HasField("string_stats"):
        common = feature.string_stats.common_stats
        counts = {bucket.label: bucket.sample_count for bucket in feature.string_stats.rank_histogram.buckets}
        if not counts:
            counts = {value.value: value.frequency for value in feature.string_stats.top_values}
        total = sum(counts.values())
        shares = {value: count / total for value, count in counts.items()} if total else {}
        return Distribution(num_examples, _num_present(common), shares=shares) if shares else None
    return None


def _num_present(common: statistics_pb2.CommonStatistics) -> int:
    """Examples with a value: CSV input writes an empty cell as a feature with no values, which counts as missing."""
    if common.max_num_values <= 1:
        return int(common.tot_num_values) if common.tot_num_values else int(common.num_non_missing)
    return int(common.num_non_missing)


def from_values(values: Sequence, num_examples: int, numeric: bool) -> Distribution:
    """The same summary from raw values (None or NaN for a missing one): for bootstraps and tests, with NumPy."""
    if not numeric:
        present = [value for value in values if value is not None]
        unique, counts = np.unique(np.asarray(present, dtype=object).astype(str), return_counts=True)
        shares = dict(zip(unique.tolist(), (counts / max(len(present), 1)).tolist(), strict=True))
        return Distribution(num_examples, len(present), shares=shares)
    numbers = np.asarray(values, dtype=np.float64)  # None becomes NaN
    numbers = numbers[~np.isnan(numbers)]
    if not len(numbers):
        return Distribution(num_examples, 0)
    edges = np.quantile(numbers, np.linspace(0, 1, STATISTICS_QUANTILES + 1))
    weight = len(numbers) / STATISTICS_QUANTILES
    buckets = tuple((float(low), float(high), weight) for low, high in itertools.pairwise(edges))
    return Distribution(num_examples, len(numbers), buckets, zero_share=float((numbers == 0).mean()))


def _breakpoints(*distributions: Distribution) -> np.ndarray:
    return np.unique([0.0, *(edge for d in distributions for low, high, _ in d.buckets for edge in (low, high))])


def ks_distance(current: Distribution, baseline: Distribution) -> float:
    """The largest gap between the two CDFs of non-zero values (0: the same; 1: no overlap).

    Only zeros on one side and values on the other: 1; only zeros on both: 0.
    """
    if current.zero_share >= 1.0 or baseline.zero_share >= 1.0:
        return float(current.zero_share < 1.0 or baseline.zero_share < 1.0)
    points = _breakpoints(current, baseline)
    gaps = [np.abs(current.nonzero_cdf(points, below) - baseline.nonzero_cdf(points, below)) for below in (False, True)]
    return float(max(gap.max() for gap in gaps))


def psi(current: Distribution, baseline: Distribution, num_bins: int = 10) -> float:
    """The population stability index over the baseline's deciles (a candidate measure; see the benchmark)."""
    edges = np.unique([baseline.quantile(k / num_bins) for k in range(num_bins + 1)])
    if len(edges) < 2:
        return 0.0
    inner = edges[1:-1]
    base = np.diff(np.concatenate([[0.0], baseline.cdf(inner, strictly_below=True), [1.0]]))
    cur = np.diff(np.concatenate([[0.0], current.cdf(inner, strictly_below=True), [1.0]]))
    base, cur = np.clip(base, 1e-4, None), np.clip(cur, 1e-4, None)
    return float(((cur - base) * np.log(cur / base)).sum())


def wasserstein_iqr(current: Distribution, baseline: Distribution) -> float:
    """The Wasserstein-1 distance between the two, over the baseline's interquartile range (a candidate measure)."""
    points = _breakpoints(current, baseline)
    gaps = np.abs(current.cdf(points) - baseline.cdf(points))
    # Both CDFs are linear between breakpoints: the trapezoid rule is exact where the gap keeps its sign.
    area = float((np.diff(points) * (gaps[:-1] + gaps[1:]) / 2).sum())
    spread = baseline.quantile(0.75) - baseline.quantile(0.25)
    return area / spread if spread > 0 else (0.0 if area == 0 else math.inf)


def linf_distance(current: Distribution, baseline: Distribution) -> float:
    """The largest change in one value's share of the present values."""
    values = set(current.shares) | set(baseline.shares)
    return max((abs(current.shares.get(v, 0.0) - baseline.shares.get(v, 0.0)) for v in values), default=0.0)


@dataclasses.dataclass(frozen=True)
class DriftMeasure:
    """One feature (or the label) compared with the baseline."""

    feature: str
    measure: str
    value: float
    threshold: float
    kind: str  # drift or skew
    measured: float | None = None  # the file's threshold, when raised for a smaller span's noise

    @property
    def exceeded(self) -> bool:
        return not self.value <= self.threshold  # a NaN exceeds every threshold


def _by_name(dataset: statistics_pb2.DatasetFeatureStatistics) -> dict[str, statistics_pb2.FeatureNameStatistics]:
    return {".".join(feature.path.step) or feature.name: feature for feature in dataset.features}


def _inverse_sizes(n: float, m: float) -> float:
    return 1.0 / n + 1.0 / m if n > 0 and m > 0 else 0.0


def ks_noise(n: float, m: float) -> float:
    """The 99th percentile of the Kolmogorov-Smirnov distance between two samples of n and m from one distribution."""
    return _KS_99 * math.sqrt(_inverse_sizes(n, m))


def share_noise(share: float, n: float, m: float) -> float:
    """The 99th percentile of the change in a share `share` between samples of n and m (0 when either is empty)."""
    return _NORMAL_99 * math.sqrt(share * (1.0 - share) * _inverse_sizes(n, m))


def psi_noise(num_classes: int, n: float, m: float) -> float:
    """The 99th percentile of the population stability index over `num_classes` shares between samples of n and m.

    The index times nm / (n + m) is about chi-squared with num_classes - 1 degrees of freedom
    (its quantile by the Wilson-Hilferty approximation).
    """
    df = max(1, num_classes - 1)
    chi2_99 = df * (1.0 - 2.0 / (9 * df) + 2.326 * math.sqrt(2.0 / (9 * df))) ** 3
    return chi2_99 * _inverse_sizes(n, m)


def _pooled(share: float, n: float, other_share: float, m: float) -> float:
    """The share over both samples together."""
    return (share * n + other_share * m) / (n + m) if n + m else 0.0


def _limit(threshold: float, noise: Callable[[float, float], float], sizes: tuple, rows: int | None) -> float:
    """The threshold for the sizes compared: raised by NOISE_MARGIN x their noise above two spans of `rows`."""
    if rows is None:
        return threshold
    return threshold + NOISE_MARGIN * max(0.0, noise(*sizes) - noise(rows, rows))


def compare(
    current: statistics_pb2.DatasetFeatureStatistics,
    baseline: statistics_pb2.DatasetFeatureStatistics,
    inputs: Sequence[str],
    thresholds: DriftThresholds,
    unchecked: Mapping[str, str] | None = None,
    kind: str = "drift",
) -> list[DriftMeasure]:
    """The distance and the change in missing values of every model input not in `unchecked`.

    An input the current data holds no value of is measured as all missing; one the baseline holds no
    value of (new) only by its missing share.
    """
    now, then = _by_name(current), _by_name(baseline)
    measures = []
    for name in sorted(set(inputs) - set(unchecked or {})):
        limits: FeatureThresholds = thresholds.features.get(name, thresholds.default)
        new = from_statistics(now[name], current.num_examples) if name in now else None
        old = from_statistics(then[name], baseline.num_examples) if name in then else None
        new_missing = new.missing_share if new else 1.0
        old_missing = old.missing_share if old else 1.0
        rows = thresholds.rows
        n, m = current.num_examples, baseline.num_examples
        pooled = _pooled(new_missing, n, old_missing, m)
        missing_limit = _limit(limits.missing, functools.partial(share_noise, pooled), (n, m), rows)
        measures.append(
            DriftMeasure(name, MISSING_CHANGE, abs(new_missing - old_missing), missing_limit, kind, limits.missing)
        )
        if new is None or old is None or new.is_numeric != old.is_numeric:
            continue
        n, m = new.num_present, old.num_present
        if new.is_numeric:
            zeros = abs(new.zero_share - old.zero_share)
            pooled = _pooled(new.zero_share, n, old.zero_share, m)
            zeros_limit = _limit(limits.zeros, functools.partial(share_noise, pooled), (n, m), rows)
            measures.append(DriftMeasure(name, ZEROS_CHANGE, zeros, zeros_limit, kind, limits.zeros))
            # The distance is between the non-zero values: their counts, and the reference's alike.
            sizes = (n * (1.0 - new.zero_share), m * (1.0 - old.zero_share))
            reference = None if rows is None else max(1, round(rows * (1.0 - pooled)))
            distance_limit = _limit(limits.distance, ks_noise, sizes, reference)
            measures.append(
                DriftMeasure(name, NUMERIC_DISTANCE, ks_distance(new, old), distance_limit, kind, limits.distance)
            )
        else:
            # The noise of a share of one half, the noisiest a share can be.
            distance_limit = _limit(limits.distance, functools.partial(share_noise, 0.5), (n, m), rows)
            measures.append(
                DriftMeasure(name, STRING_DISTANCE, linf_distance(new, old), distance_limit, kind, limits.distance)
            )
    return measures


def class_psi(new: Mapping[str, float], old: Mapping[str, float]) -> float:
    """The population stability index over class shares, each at least 1e-4: sum((p - q) ln(p / q))."""
    names = set(new) | set(old)
    p = np.clip(np.array([new.get(name, 0.0) for name in names]), 1e-4, None)
    q = np.clip(np.array([old.get(name, 0.0) for name in names]), 1e-4, None)
    return float(((p - q) * np.log(p / q)).sum())


def label_measures(
    current: LabelProfile,
    baseline: LabelProfile,
    task_type: str,
    thresholds: LabelThresholds,
    rows: int | None = None,
) -> list[DriftMeasure]:
    """The label's change: the population stability index over its classes, or its mean's and spread's."""
    if task_type != "regression":
        new, old = current.class_shares(), baseline.class_shares()
        if not new or not old:
            return []
        sizes = (sum(current.class_counts.values()), sum(baseline.class_counts.values()))
        limit = _limit(thresholds.classes, functools.partial(psi_noise, len(set(new) | set(old))), sizes, rows)
        return [DriftMeasure(LABEL_FEATURE, LABEL_CLASSES, class_psi(new, old), limit, "drift", thresholds.classes)]
    if None in (current.mean, current.std, baseline.mean, baseline.std) or not baseline.std:
        return []
    shift = abs(current.mean - baseline.mean) / baseline.std
    spread = abs(math.log(current.std / baseline.std)) if current.std else math.inf
    sizes = (current.num_examples, baseline.num_examples)
    # A mean's shift in sds: normal; the log of a ratio of sds: normal with half the variance.
    mean_limit = _limit(thresholds.mean_shift, _mean_noise, sizes, rows)
    spread_limit = _limit(thresholds.spread, _spread_noise, sizes, rows)
    return [
        DriftMeasure(LABEL_FEATURE, "mean shift in baseline sds", shift, mean_limit, "drift", thresholds.mean_shift),
        DriftMeasure(LABEL_FEATURE, "spread (|log sd ratio|)", spread, spread_limit, "drift", thresholds.spread),
    ]


def _mean_noise(n: float, m: float) -> float:
    """The 99th percentile of a mean's shift in standard deviations between samples of n and m."""
    return _NORMAL_99 * math.sqrt(_inverse_sizes(n, m))


def _spread_noise(n: float, m: float) -> float:
    """The 99th percentile of |log| of the ratio of two samples' standard deviations (half the mean's variance)."""
    return _NORMAL_99 * math.sqrt(_inverse_sizes(n, m) / 2)


def schema_comparators(
    current: statistics_pb2.DatasetFeatureStatistics,
    schema: schema_pb2.Schema,
    previous: statistics_pb2.DatasetFeatureStatistics | None = None,
    serving: statistics_pb2.DatasetFeatureStatistics | None = None,
) -> list[DriftMeasure]:
    """The schema's own TFDV comparators: drift against `previous`, skew against `serving`."""
    import tensorflow_data_validation as tfdv

    def as_list(dataset):
        return statistics_pb2.DatasetFeatureStatisticsList(datasets=[dataset])

    measures = []
    for kind, baseline in (("drift", previous), ("skew", serving)):
        if baseline is None:
            continue
        anomalies = tfdv.validate_statistics(
            as_list(current),
            schema,
            environment="TRAINING",
            previous_statistics=as_list(baseline) if kind == "drift" else None,
            serving_statistics=as_list(baseline) if kind == "skew" else None,
        )
        for info in anomalies.drift_skew_info:
            feature = ".".join(info.path.step)
            for measurement in info.drift_measurements if kind == "drift" else info.skew_measurements:
                name = _MEASURE_NAMES.get(
                    measurement.type, anomalies_pb2.DriftSkewInfo.Measurement.Type.Name(measurement.type)
                )
                measures.append(
                    DriftMeasure(
                        feature, f"schema {name}", float(measurement.value), float(measurement.threshold), kind
                    )
                )
    return measures


def findings(measures: Sequence[DriftMeasure], baseline: str, split: str = "train") -> list[Finding]:
    """A blocking finding for each measure above its threshold."""
    result = []
    for measure in measures:
        if not measure.exceeded:
            continue
        against = baseline if measure.kind == "drift" else "the serving statistics"
        where = "the schema" if measure.measure.startswith("schema ") else "validation.drift_thresholds"
        result.append(
            Finding(
                split=split,
                feature=measure.feature,
                severity=Severity.ERROR,
                anomaly=f"{measure.kind}: {measure.measure}",
                description=(
                    f"{measure.measure} {measure.value:.4f} from {against}, above the threshold "
                    f"{measure.threshold:.3g}{_raised(measure)}. If the change is real and expected, raise the "
                    f"threshold in {where}."
                ),
            )
        )
    return result


def _raised(measure: DriftMeasure) -> str:
    if measure.measured is None or measure.threshold <= measure.measured:
        return ""
    return f" (the file's {measure.measured:.3g}, raised for this span's smaller size)"


def write_scalars(log_dir: str, span: int, measures: Sequence[DriftMeasure]) -> None:
    """One scalar per measure, `drift/<feature>/<measure>` (or `skew/...`), at step `span`."""
    import tensorflow as tf

    writer = tf.summary.create_file_writer(log_dir)
    with writer.as_default():
        for measure in measures:
            tf.summary.scalar(f"{measure.kind}/{measure.feature}/{measure.measure}", measure.value, step=span)
    writer.flush()
    writer.close()
