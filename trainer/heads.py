"""What each task type adds on top of the shared network: output width, loss, metrics and serving outputs.

One `Head` per task type; the training loop, the Tuner and the export call
only these methods, so multi-worker training, checkpoints and export are one
code path for binary, multiclass and regression models.

- binary: one logit; sigmoid cross-entropy; AUC and accuracy; serves the
  positive-class probability.
- multiclass: one logit per class; softmax cross-entropy over the label's
  vocabulary; accuracy; serves every class's probability and the class names.
- regression: one output, trained on the standardised label (mean and
  standard deviation of the training split) so any scale trains alike;
  RMSE and MAE in the label's units; serves the prediction in those units.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Sequence

import keras
import tensorflow as tf

__all__ = [
    "HEAD_CLASSES",
    "BinaryHead",
    "Head",
    "MetricGoal",
    "MulticlassHead",
    "RegressionHead",
    "make_head",
]


@dataclasses.dataclass(frozen=True)
class MetricGoal:
    """The metric that decides a model's quality for a task, and which way is better."""

    name: str
    higher_is_better: bool


class Head(abc.ABC):
    """Task-specific parts of the model and its training."""

    #: The serving output TFMA reads as the prediction.
    prediction_key: str
    #: The metric that blesses models and ranks tuning trials.
    goal: MetricGoal

    @property
    @abc.abstractmethod
    def num_outputs(self) -> int:
        """Width of the network's last layer."""

    @abc.abstractmethod
    def per_example_loss(self, labels: tf.Tensor, outputs: tf.Tensor) -> tf.Tensor:
        """One loss value per example (rank 1)."""

    @abc.abstractmethod
    def new_metrics(self) -> dict[str, keras.metrics.Metric]:
        """Fresh metrics keyed by the name TensorBoard and the report use."""

    @abc.abstractmethod
    def update_metrics(self, metrics: dict[str, keras.metrics.Metric], labels, outputs) -> None:
        """Feeds one batch of labels and network outputs to `new_metrics()`'s metrics."""

    @abc.abstractmethod
    def predictions(self, outputs: tf.Tensor) -> dict[str, tf.Tensor]:
        """The serving signature's outputs for a batch of network outputs."""

    @abc.abstractmethod
    def keras_loss(self):
        """The loss for `Model.compile` in the Tuner, on the same labels as `per_example_loss`."""

    def keras_metrics(self) -> list:
        """Metrics for `Model.compile` in the Tuner; one of them is named for the tuning objective."""
        return []

    @property
    def objective(self) -> tuple[str, str]:
        """KerasTuner's objective: (name, "max" or "min")."""
        return f"val_{self.goal.name}", "max" if self.goal.higher_is_better else "min"

    def result(self, metrics: dict[str, keras.metrics.Metric]) -> dict[str, float]:
        """The current value of each metric, as plain floats."""
        return {name: float(metric.result()) for name, metric in metrics.items()}


class BinaryHead(Head):
    """A sigmoid over one logit."""

    prediction_key = "probabilities"
    goal = MetricGoal("auc", higher_is_better=True)

    @property
    def num_outputs(self) -> int:
        return 1

    def per_example_loss(self, labels, outputs):
        return tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.cast(labels, tf.float32), logits=outputs)

    def new_metrics(self):
        return {"auc": keras.metrics.AUC(name="auc"), "accuracy": keras.metrics.BinaryAccuracy(name="accuracy")}

    def update_metrics(self, metrics, labels, outputs):
        probabilities = tf.sigmoid(outputs)
        for metric in metrics.values():
            metric.update_state(labels, probabilities)

    def predictions(self, outputs):
        return {self.prediction_key: tf.sigmoid(outputs), "logits": outputs}

    def keras_loss(self):
        return keras.losses.BinaryCrossentropy(from_logits=True)

    def keras_metrics(self):
        return [keras.metrics.AUC(from_logits=True, name="auc"), keras.metrics.BinaryAccuracy(threshold=0.0)]


class MulticlassHead(Head):
    """A softmax over one logit per class; class ids index `class_names`."""

    prediction_key = "probabilities"
    goal = MetricGoal("accuracy", higher_is_better=True)

    def __init__(self, class_names: Sequence[str]):
        if len(class_names) < 2:
            raise ValueError(
                f"a multiclass label needs at least 2 classes in the training data, found {list(class_names)}"
            )
        self.class_names = tuple(class_names)

    @property
    def num_outputs(self) -> int:
        return len(self.class_names)

    def per_example_loss(self, labels, outputs):
        # A class first seen outside the training data has id -1: no loss, and it counts as wrong.
        known = labels >= 0
        loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.maximum(labels, 0), logits=outputs)
        return tf.where(known, loss, tf.zeros_like(loss))

    def new_metrics(self):
        return {"accuracy": keras.metrics.SparseCategoricalAccuracy(name="accuracy")}

    def update_metrics(self, metrics, labels, outputs):
        metrics["accuracy"].update_state(labels, outputs)

    def predictions(self, outputs):
        probabilities = tf.nn.softmax(outputs)
        names = tf.constant(self.class_names)
        batch = tf.shape(outputs)[0]
        return {
            self.prediction_key: probabilities,
            "classes": tf.tile(names[tf.newaxis, :], [batch, 1]),
            "predicted_class": tf.gather(names, tf.argmax(outputs, axis=1)),
        }

    def keras_loss(self):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)

    def keras_metrics(self):
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]


class RegressionHead(Head):
    """A linear output trained on the standardised label; serves values in the label's units."""

    prediction_key = "predictions"
    goal = MetricGoal("rmse", higher_is_better=False)

    def __init__(self, label_mean: float, label_std: float):
        self.label_mean = float(label_mean)
        # A constant label still trains (and fails the validation gate's check first).
        self.label_std = float(label_std) if label_std > 0 else 1.0

    @property
    def num_outputs(self) -> int:
        return 1

    def standardize(self, labels) -> tf.Tensor:
        return (tf.cast(labels, tf.float32) - self.label_mean) / self.label_std

    def per_example_loss(self, labels, outputs):
        return tf.square(self.standardize(labels) - outputs)

    def new_metrics(self):
        return {
            "rmse": keras.metrics.RootMeanSquaredError(name="rmse"),
            "mae": keras.metrics.MeanAbsoluteError(name="mae"),
        }

    def update_metrics(self, metrics, labels, outputs):
        values = self._unscale(outputs)
        for metric in metrics.values():
            metric.update_state(tf.cast(labels, tf.float32), values)

    def predictions(self, outputs):
        return {self.prediction_key: self._unscale(outputs)}

    def keras_loss(self):
        return self.per_example_loss

    @property
    def objective(self) -> tuple[str, str]:
        # The loss is the squared error in standard deviations: it ranks trials as RMSE does.
        return "val_loss", "min"

    def _unscale(self, outputs):
        return self.label_mean + self.label_std * outputs


# The head class of each task type; its class attributes (goal, prediction_key) need no data.
HEAD_CLASSES: dict[str, type[Head]] = {
    "binary": BinaryHead,
    "multiclass": MulticlassHead,
    "regression": RegressionHead,
}


def make_head(task_type: str, tf_transform_output, train_files: Sequence[str]) -> Head:
    """The head of a task, with what it needs from the data: class names, or the label's moments.

    Args:
      task_type: binary, multiclass or regression.
      tf_transform_output: The Transform graph's output (the label's vocabulary).
      train_files: Raw training examples (the regression label's mean and deviation, after the transform).
    """
    from trainer import data

    if task_type == "binary":
        return BinaryHead()
    if task_type == "multiclass":
        return MulticlassHead(data.class_names(tf_transform_output))
    if task_type == "regression":
        return RegressionHead(*data.label_moments(train_files, data.transformer(tf_transform_output)))
    raise ValueError(f"unknown task type {task_type!r}; expected binary, multiclass or regression")
