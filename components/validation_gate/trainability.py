"""What training cannot use, found before Transform: pure checks over statistics and the label's values.

The schema says what the data may look like; these checks say what the model
cannot learn from, whatever the schema says, and are always blocking:
- a split with fewer than `validation.min_examples` examples;
- non-finite values (NaN, inf) in a numeric model input or a numeric label;
- a label missing from examples of the train split (a label column);
- a label with a single class (binary, multiclass) or no variance
  (regression) in the train split.
The statistics are StatisticsGen's; the label's values come from
`LabelProfile`, computed by the executor with the trainer's own label code.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping

from tensorflow_metadata.proto.v0 import statistics_pb2

from components.validation_gate.gate import DATASET_FEATURE, Finding, Severity
from trainer.features import FeatureKind, TaskSpec

__all__ = ["LabelProfile", "label_findings", "profile_label", "statistics_findings", "unreadable_label"]

_LABEL = "(label)"


@dataclasses.dataclass(frozen=True)
class LabelProfile:
    """The label over a split: how many examples, its distinct values (a few), and its spread."""

    num_examples: int
    distinct: tuple[str, ...]  # up to a handful, sorted
    num_non_finite: int = 0
    std: float | None = None  # regression only


def profile_label(batches: Iterable[dict], task: TaskSpec, max_distinct: int = 5) -> LabelProfile:
    """The label over parsed batches of raw examples, computed as Transform computes it.

    Args:
      batches: Dicts of raw feature tensors (as `tf.io.parse_example` gives them).
      task: The resolved task: which label, and how it is encoded.
      max_distinct: How many distinct values to keep for the report.
    """
    import numpy as np

    from trainer import labels, preprocessing

    count, non_finite, total, squares = 0, 0, 0.0, 0.0
    distinct: set[str] = set()
    for batch in batches:
        values = labels.label_values(batch, task.label)
        if task.type == "binary":
            values = labels.binary_label(values, task.label.positive_class)
        elif task.type == "multiclass":
            values = preprocessing.tokens(values)
        array = values.numpy()
        count += len(array)
        if task.type == "regression":
            numbers = array.astype(np.float64)
            finite = np.isfinite(numbers)
            non_finite += int((~finite).sum())
            total, squares = total + float(numbers[finite].sum()), squares + float((numbers[finite] ** 2).sum())
        if len(distinct) < max_distinct:
            distinct |= {value.decode() if isinstance(value, bytes) else f"{value:g}" for value in np.unique(array)}
    std = None
    if task.type == "regression" and count - non_finite:
        finite_count = count - non_finite
        mean = total / finite_count
        std = max(squares / finite_count - mean * mean, 0.0) ** 0.5
        std = 0.0 if std < 1e-12 * max(abs(mean), 1.0) else std
    return LabelProfile(count, tuple(sorted(distinct)[:max_distinct]), non_finite, std)


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
