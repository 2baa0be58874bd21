"""Drift and skew: the new data's statistics against a baseline, with the schema's comparators.

The curated schema declares, per feature, a `drift_comparator` (and for
serving skew a `skew_comparator`): TFDV's `infinity_norm` (largest change in
any category's share) for categorical features, `jensen_shannon_divergence`
for numeric ones, each with a threshold. TFDV measures every compared feature
(`drift_skew_info`); a measure above its threshold is a blocking finding of
the validation gate, naming the feature, the measure, its value and the
threshold. Every measure is also written to TensorBoard, one curve per
feature with the span as the step, so drift growing over time is visible.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

from components.validation_gate.gate import Finding, Severity

__all__ = ["DriftMeasure", "compare", "findings", "write_scalars"]

_MEASURE_NAMES = {
    anomalies_pb2.DriftSkewInfo.Measurement.L_INFTY: "L-infinity distance",
    anomalies_pb2.DriftSkewInfo.Measurement.JENSEN_SHANNON_DIVERGENCE: "Jensen-Shannon divergence",
    anomalies_pb2.DriftSkewInfo.Measurement.NORMALIZED_ABSOLUTE_DIFFERENCE: "normalized absolute difference",
}


@dataclasses.dataclass(frozen=True)
class DriftMeasure:
    """One feature compared with the baseline."""

    feature: str
    measure: str
    value: float
    threshold: float
    kind: str  # drift or skew

    @property
    def exceeded(self) -> bool:
        return self.value > self.threshold


def _as_list(dataset: statistics_pb2.DatasetFeatureStatistics) -> statistics_pb2.DatasetFeatureStatisticsList:
    return statistics_pb2.DatasetFeatureStatisticsList(datasets=[dataset])


def compare(
    current: statistics_pb2.DatasetFeatureStatistics,
    schema: schema_pb2.Schema,
    previous: statistics_pb2.DatasetFeatureStatistics | None = None,
    serving: statistics_pb2.DatasetFeatureStatistics | None = None,
) -> list[DriftMeasure]:
    """Every comparator's measure: drift against `previous`, skew against `serving`."""
    import tensorflow_data_validation as tfdv

    measures = []
    for kind, baseline in (("drift", previous), ("skew", serving)):
        if baseline is None:
            continue
        anomalies = tfdv.validate_statistics(
            _as_list(current),
            schema,
            environment="TRAINING",
            previous_statistics=_as_list(baseline) if kind == "drift" else None,
            serving_statistics=_as_list(baseline) if kind == "skew" else None,
        )
        for info in anomalies.drift_skew_info:
            feature = ".".join(info.path.step)
            for measurement in info.drift_measurements if kind == "drift" else info.skew_measurements:
                name = _MEASURE_NAMES.get(
                    measurement.type, anomalies_pb2.DriftSkewInfo.Measurement.Type.Name(measurement.type)
                )
                measures.append(
                    DriftMeasure(feature, name, float(measurement.value), float(measurement.threshold), kind)
                )
    return sorted(measures, key=lambda measure: (measure.kind, measure.feature))


def findings(measures: Sequence[DriftMeasure], baseline: str, split: str = "train") -> list[Finding]:
    """A blocking finding for each measure above its threshold."""
    result = []
    for measure in measures:
        if not measure.exceeded:
            continue
        against = baseline if measure.kind == "drift" else "the serving statistics"
        result.append(
            Finding(
                split=split,
                feature=measure.feature,
                severity=Severity.ERROR,
                anomaly=f"{measure.kind}: {measure.measure}",
                description=(
                    f"{measure.measure} {measure.value:.4f} from {against}, above the schema's threshold "
                    f"{measure.threshold:g}. If the change is real and expected, raise the threshold in the schema."
                ),
            )
        )
    return result


def write_scalars(log_dir: str, span: int, measures: Sequence[DriftMeasure]) -> None:
    """One scalar per measure, `drift/<feature>` (or `skew/...`), at step `span`."""
    import tensorflow as tf

    writer = tf.summary.create_file_writer(log_dir)
    with writer.as_default():
        for measure in measures:
            tf.summary.scalar(f"{measure.kind}/{measure.feature}", measure.value, step=span)
    writer.flush()
    writer.close()
