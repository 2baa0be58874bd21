"""The evaluation metrics, each over whole numpy arrays of one slice: no per-example Python.

These are the TFMA metric classes the pipeline's eval config names
(pipelines/evaluation.py), computed as TFMA defines them, except AUC, which is
exact (ranks with ties averaged) where TFMA interpolates over 10 000
thresholds; the two agree to about 1e-4.

Every metric takes `labels` (one value per example) and `predictions` (one row
per example: a probability for binary, one per class for multiclass, the
predicted value for regression) and returns a float, NaN where it is
undefined (AUC of a slice holding a single class or of NaN scores, anything
of an empty slice). NaN fails every threshold, so it never blesses a model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np

__all__ = ["METRICS", "auc", "group_rows", "metric_values"]

# TFMA's BinaryAccuracy threshold: a probability above it predicts the positive class.
_BINARY_THRESHOLD = 0.5


def auc(labels: np.ndarray, predictions: np.ndarray) -> float:
    """Area under the ROC curve: the chance a random positive scores above a random negative (ties count half)."""
    positive = labels.reshape(-1) > _BINARY_THRESHOLD
    num_positive = int(positive.sum())
    num_negative = positive.size - num_positive
    if num_positive == 0 or num_negative == 0:
        return float("nan")
    scores = predictions[:, 0] if predictions.ndim == 2 else predictions
    if not np.all(np.isfinite(scores)):
        # A diverged model: no ranking to measure, and NaN fails every threshold.
        return float("nan")
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    # Mid-rank of each distinct score (1-based): tied scores share the mean of their ranks.
    mid_ranks = np.cumsum(counts) - (counts - 1) / 2.0
    rank_sum = float(mid_ranks[inverse.reshape(-1)][positive].sum())
    return (rank_sum - num_positive * (num_positive + 1) / 2.0) / (num_positive * num_negative)


def _example_count(labels: np.ndarray, predictions: np.ndarray) -> float:
    return float(labels.shape[0])


def _binary_accuracy(labels: np.ndarray, predictions: np.ndarray) -> float:
    if labels.size == 0:
        return float("nan")
    predicted = predictions[:, 0] > _BINARY_THRESHOLD
    return float(np.mean(predicted == (labels.reshape(-1) > _BINARY_THRESHOLD)))


def _sparse_categorical_accuracy(labels: np.ndarray, predictions: np.ndarray) -> float:
    # A class id of -1 (a class the model never saw) matches no prediction: it counts as wrong.
    if labels.size == 0:
        return float("nan")
    return float(np.mean(np.argmax(predictions, axis=1) == labels.reshape(-1)))


def _errors(labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    return predictions[:, 0].astype(np.float64) - labels.reshape(-1).astype(np.float64)


def _root_mean_squared_error(labels: np.ndarray, predictions: np.ndarray) -> float:
    if labels.size == 0:
        return float("nan")
    return float(np.sqrt(np.mean(np.square(_errors(labels, predictions)))))


def _mean_absolute_error(labels: np.ndarray, predictions: np.ndarray) -> float:
    if labels.size == 0:
        return float("nan")
    return float(np.mean(np.abs(_errors(labels, predictions))))


# TFMA class name -> the metric. An eval config naming any other class is refused.
METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "ExampleCount": _example_count,
    "AUC": auc,
    "BinaryAccuracy": _binary_accuracy,
    "SparseCategoricalAccuracy": _sparse_categorical_accuracy,
    "RootMeanSquaredError": _root_mean_squared_error,
    "MeanAbsoluteError": _mean_absolute_error,
}


def metric_values(metrics: Sequence[tuple[str, str]], labels: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    """Each (class name, reported name) metric over these rows, by reported name."""
    return {name: METRICS[class_name](labels, predictions) for class_name, name in metrics}


def group_rows(rows: np.ndarray, codes: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """The rows holding each distinct value code, in code order.

    Args:
      rows: The example index of each (example, value) pair: an example with
        several values of a feature is in several slices, one with none in none.
      codes: The value's code in each pair.
    """
    if codes.size == 0:
        return
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    ends = [*starts[1:], codes.size]
    for start, end in zip(starts, ends, strict=True):
        yield int(sorted_codes[start]), rows[order[start:end]]
