"""The label over a split, computed as Transform computes it: its count, classes and their shares, or its spread.

The validation gate profiles the new span's train split (is there more than
one class? does the balance match the baseline's?); the Trainer's executor
profiles the data it trained on and keeps the profile with the model, as the
baseline of later runs. Both read only the label's source columns.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from trainer.features import TaskSpec

__all__ = ["LabelProfile", "encoded_labels", "label_batches", "profile", "profile_files"]

# Label values kept by name: every class of a classification label, up to this many.
_MAX_CLASSES = 10_000


@dataclasses.dataclass(frozen=True)
class LabelProfile:
    """The label over a split.

    Attributes:
      num_examples: Examples read.
      distinct: A handful of its distinct values, sorted (for messages).
      num_non_finite: Regression: NaN or infinite values.
      mean: Regression: the mean of the finite values.
      std: Regression: their standard deviation.
      class_counts: Classification: examples per class (binary: "0" and "1").
    """

    num_examples: int
    distinct: tuple[str, ...]
    num_non_finite: int = 0
    mean: float | None = None
    std: float | None = None
    class_counts: Mapping[str, int] = dataclasses.field(default_factory=dict)

    def class_shares(self) -> dict[str, float]:
        """Each class's share of the examples."""
        total = sum(self.class_counts.values())
        return {name: count / total for name, count in self.class_counts.items()} if total else {}

    def to_json(self) -> str:
        return json.dumps({**dataclasses.asdict(self), "class_counts": dict(self.class_counts)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> LabelProfile:
        values = json.loads(text)
        return cls(**{**values, "distinct": tuple(values["distinct"])})


def label_batches(files: Sequence[str], raw_feature_spec: Mapping, task: TaskSpec, batch_size: int = 8192):
    """Parsed batches of raw examples holding the label's source columns only (every column for label_fn)."""
    import tensorflow as tf

    from common import records

    spec = dict(raw_feature_spec)
    if task.label.fn is None:
        spec = {name: spec[name] for name in task.label.source_columns}
    return records.read_records(files).batch(batch_size).map(lambda batch: tf.io.parse_example(batch, spec))


def profile_files(files: Sequence[str], schema, task: TaskSpec) -> LabelProfile:
    """The label over TFRecord files of raw tf.Examples described by a schema (a schema_pb2.Schema)."""
    from tensorflow_transform.tf_metadata import schema_utils

    raw_feature_spec = schema_utils.schema_as_feature_spec(schema).feature_spec
    return profile(label_batches(files, raw_feature_spec, task), task)


def profile(batches: Iterable[dict], task: TaskSpec, max_distinct: int = 5) -> LabelProfile:
    """The label over parsed batches of raw examples, computed as Transform computes it.

    Args:
      batches: Dicts of raw feature tensors (as `tf.io.parse_example` gives them).
      task: The resolved task: which label, and how it is encoded.
      max_distinct: How many distinct values to keep for messages.
    """
    count, non_finite, total, squares = 0, 0, 0.0, 0.0
    counts: dict[str, int] = {}  # classification: per class
    seen: set[str] = set()  # regression: a handful of values, for messages
    for batch in batches:
        array = encoded_labels(batch, task)
        count += len(array)
        if task.type == "regression":
            numbers = array.astype(np.float64)
            finite = np.isfinite(numbers)
            non_finite += int((~finite).sum())
            total, squares = total + float(numbers[finite].sum()), squares + float((numbers[finite] ** 2).sum())
            if len(seen) < max_distinct:
                seen |= {_name(value) for value in np.unique(numbers)[:max_distinct]}
            continue
        names, frequencies = np.unique(array, return_counts=True)
        for value, frequency in zip(names, frequencies, strict=True):
            name = _name(value)
            if name in counts or len(counts) < _MAX_CLASSES:
                counts[name] = counts.get(name, 0) + int(frequency)
    if task.type != "regression":
        return LabelProfile(count, tuple(sorted(counts)[:max_distinct]), class_counts=counts)
    distinct = tuple(sorted(seen)[:max_distinct])
    mean = std = None
    if count - non_finite:
        finite_count = count - non_finite
        mean = total / finite_count
        std = max(squares / finite_count - mean * mean, 0.0) ** 0.5
        std = 0.0 if std < 1e-12 * max(abs(mean), 1.0) else std
    return LabelProfile(count, distinct, non_finite, mean, std)


def encoded_labels(batch: dict, task: TaskSpec) -> np.ndarray:
    """A batch's labels as the model learns them: 0/1 (binary), class names (multiclass), numbers (regression)."""
    from trainer import labels, preprocessing

    values = labels.label_values(batch, task.label)
    if task.type == "binary":
        values = labels.binary_label(values, task.label.positive_class)
    elif task.type == "multiclass":
        values = preprocessing.tokens(values)
    return values.numpy()


def _name(value) -> str:
    return value.decode() if isinstance(value, bytes) else f"{value:g}"
