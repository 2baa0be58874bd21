"""What training cannot use, found before Transform: pure checks over statistics and the label's values.

The schema says what the data may look like; these checks say what the model
cannot learn from, whatever the schema says, and are always blocking:
- a split with fewer than `validation.min_examples` examples;
- non-finite values (NaN, inf) in a numeric model input or a numeric label;
- a label missing from examples of the train split (a label column);
- a label with a single class (binary, multiclass) or no variance
  (regression) in the train split.
The statistics are StatisticsGen's; the label's values come from a
`trainer.label_profile.LabelProfile`, computed with the trainer's own label code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from tensorflow_metadata.proto.v0 import statistics_pb2

from components.validation_gate.gate import DATASET_FEATURE, Finding, Severity
from trainer.features import FeatureKind, TaskSpec
from trainer.label_profile import LabelProfile

__all__ = ["label_findings", "statistics_findings", "unreadable_label"]

_LABEL = "(label)"


def _feature_statistics(
    dataset: statistics_pb2.DatasetFeatureStatistics,
) -> dict[str, statistics_pb2.FeatureNameStatistics]:
    return {".".join(feature.path.step) or feature.name: feature for feature in dataset.features}


def _non_finite(feature: statistics_pb2.FeatureNameStatistics) -> str | None:
    if not feature.HasField("num_stats"):
        return None
    stats = feature.num_stats
    nans = max((histogram.num_nan for histogram in stats.histograms), default=0)
    parts = [f"{nans} NaN"] if nans else []
    if math.isinf(stats.max) or math.isinf(stats.min):
        parts.append(f"infinite values (min {stats.min:g}, max {stats.max:g})")
    return " and ".join(parts) or None


def statistics_findings(
    statistics_by_split: Mapping[str, statistics_pb2.DatasetFeatureStatistics], task: TaskSpec, min_examples: int
) -> list[Finding]:
    """Too few examples, non-finite numbers in inputs or a numeric label, a missing label column."""
    findings = []
    numeric = {feature.name for feature in task.features if feature.kind is not FeatureKind.CATEGORICAL}
    label_column = task.label.name if task.label.dtype is not None else None
    if task.type == "regression" and label_column:
        numeric.add(label_column)
    for split, dataset in sorted(statistics_by_split.items()):
        if dataset.num_examples < min_examples:
            findings.append(
                _blocking(
                    split,
                    DATASET_FEATURE,
                    "too few examples",
                    f"{dataset.num_examples} examples, fewer than validation.min_examples ({min_examples}): "
                    "too few to train and evaluate on; add data or lower the floor.",
                )
            )
        by_name = _feature_statistics(dataset)
        for name in sorted(numeric & set(by_name)):
            problem = _non_finite(by_name[name])
            if problem:
                where = "the label" if name == label_column else "a model input"
                findings.append(
                    _blocking(
                        split,
                        name,
                        "non-finite values",
                        f"{problem} in {where}: training would produce NaN. Fix the data, or exclude the "
                        "feature (task.features.exclude).",
                    )
                )
        if split == "train" and label_column in by_name:
            missing = _num_missing(by_name[label_column], dataset.num_examples)
            if missing:
                findings.append(
                    _blocking(
                        split,
                        label_column,
                        "label missing",
                        f"the label is missing in {missing} of {dataset.num_examples} examples; drop those "
                        "rows or fill them in.",
                    )
                )
    return findings


def _num_missing(feature: statistics_pb2.FeatureNameStatistics, num_examples: int) -> int:
    kind = feature.WhichOneof("stats")
    if kind is None:
        return num_examples
    common = getattr(feature, kind).common_stats
    return int(common.num_missing)


def label_findings(profile: LabelProfile, task: TaskSpec, split: str = "train") -> list[Finding]:
    """A label with one class, or without variance, or with non-finite values."""
    findings = []
    if profile.num_non_finite:
        findings.append(
            _blocking(
                split, _LABEL, "non-finite label", f"{profile.num_non_finite} examples have a NaN or infinite label."
            )
        )
    if task.type in ("binary", "multiclass") and profile.num_examples and len(profile.distinct) < 2:
        only = profile.distinct[0] if profile.distinct else "nothing"
        findings.append(
            _blocking(
                split,
                _LABEL,
                "a single class",
                f"every one of the {profile.num_examples} examples has the label {only!r}: a classifier needs "
                "at least two classes in the train split.",
            )
        )
    if task.type == "regression" and profile.std is not None and profile.std == 0.0 and profile.num_examples:
        value = profile.distinct[0] if profile.distinct else "?"
        findings.append(
            _blocking(
                split,
                _LABEL,
                "no variance",
                f"the label is {value} in all {profile.num_examples} examples: there is nothing to learn.",
            )
        )
    return findings


def unreadable_label(message: str, split: str = "train") -> Finding:
    """The label's source columns do not parse as the schema says (a type the statistics did not flag)."""
    return _blocking(
        split, _LABEL, "label cannot be computed", f"the label's columns do not parse as the schema says: {message}"
    )


def _blocking(split: str, feature: str, anomaly: str, description: str) -> Finding:
    return Finding(split=split, feature=feature, severity=Severity.ERROR, anomaly=anomaly, description=description)
