"""Exports the trained model as a SavedModel that serves raw tf.Examples.

Signatures:
  serving_default: serialized tf.Examples with the raw model inputs (no label)
    -> the head's outputs: `probabilities` of the positive class (binary);
    `probabilities` of every class, `classes` (their names) and
    `predicted_class` (multiclass); `predictions` in the label's units
    (regression). The Transform graph is inside, so TensorFlow Serving can use
    the pushed model as it is.
  transform_features: serialized raw tf.Examples (label included) -> the
    transformed features and label; the Evaluator uses it to get the label.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence

import tensorflow as tf

from common import tfx_compat
from trainer import warm_start
from trainer.features import TaskSpec
from trainer.heads import Head
from trainer.strategy import ClusterRole
from trainer.training import scratch_dir

__all__ = ["SERVING_SIGNATURE", "TRANSFORM_SIGNATURE", "export_serving_model"]

SERVING_SIGNATURE = "serving_default"
TRANSFORM_SIGNATURE = "transform_features"


class _ServingModule(tf.Module):
    """Holds the Keras model and the Transform layer so SavedModel tracks both."""

    def __init__(self, model, tf_transform_output, task: TaskSpec, head: Head, input_names: Sequence[str]):
        super().__init__()
        self.model = model
        # A tf_keras layer when tensorflow_transform forced legacy Keras: it is
        # only called inside these tf.functions, never mixed into the Keras 3 model.
        self.transform_layer = tf_transform_output.transform_features_layer()
        raw_spec = tf_transform_output.raw_feature_spec()
        self._raw_spec = raw_spec
        # Serving requests carry the model's inputs only: no label, no excluded column.
        self._serving_spec = {name: raw_spec[name] for name in task.input_columns}
        self._input_names = tuple(input_names)
        self._head = head

    # autograph=False, as for the datasets (trainer/data.py): straight-line code.
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")], autograph=False)
    def serve(self, examples):
        transformed = self.transform_layer(tf.io.parse_example(examples, self._serving_spec))
        outputs = self.model({name: transformed[name] for name in self._input_names}, training=False)
        return self._head.predictions(outputs)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")], autograph=False)
    def transform_features(self, examples):
        return self.transform_layer(tf.io.parse_example(examples, self._raw_spec))


def export_serving_model(
    model,
    tf_transform_output,
    task: TaskSpec,
    head: Head,
    export_dir: str,
    role: ClusterRole,
    network: dict | None = None,
) -> None:
    """Saves the serving SavedModel to export_dir on the chief, and the warm-start copy beside it.

    Other workers save to a scratch folder that is then deleted: saving
    distributed variables can involve collective ops every worker must join.
    With `network` (trainer/warm_start.py's description), the weights and their
    description go to `<export_dir>/../warm_start`.
    """
    module = _ServingModule(model, tf_transform_output, task, head, list(model.input))
    target = scratch_dir(export_dir, role)
    signatures = {
        SERVING_SIGNATURE: module.serve.get_concrete_function(),
        TRANSFORM_SIGNATURE: module.transform_features.get_concrete_function(),
    }
    # The Transform layer is a tf_keras Model: tf.saved_model.save would also trace its call
    # functions and a default signature for it, with AutoGraph, which nothing loads:
    # serving, the Evaluator and warm starts use the signatures above or checkpoints.
    with tfx_compat.keras_save_traces_off():
        tf.saved_model.save(module, target, signatures=signatures)
    if not role.is_chief:
        shutil.rmtree(target, ignore_errors=True)
    elif network is not None:
        warm_start.save(
            model, network, os.path.join(os.path.dirname(export_dir.rstrip("/")), warm_start.WARM_START_DIR)
        )
