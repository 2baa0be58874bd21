"""Exports the trained model as a SavedModel that serves raw tf.Examples.

Signatures:
  serving_default: serialized tf.Examples with raw features, no label ->
    {"probabilities": P(big tipper), "logits": ...}. The Transform graph is
    inside, so TensorFlow Serving can use the pushed model as it is.
  transform_features: serialized raw tf.Examples (label included) -> the
    transformed features and label; the Evaluator uses it to get the label.
"""

from __future__ import annotations

import shutil

import tensorflow as tf

from trainer import features
from trainer.model import input_names
from trainer.strategy import ClusterRole
from trainer.training import scratch_dir

__all__ = ["PREDICTION_KEY", "SERVING_SIGNATURE", "TRANSFORM_SIGNATURE", "export_serving_model"]

SERVING_SIGNATURE = "serving_default"
TRANSFORM_SIGNATURE = "transform_features"
PREDICTION_KEY = "probabilities"


class _ServingModule(tf.Module):
    """Holds the Keras model and the Transform layer so SavedModel tracks both."""

    def __init__(self, model, tf_transform_output):
        super().__init__()
        self.model = model
        # A tf_keras layer when tensorflow_transform forced legacy Keras: it is
        # only called inside these tf.functions, never mixed into the Keras 3 model.
        self.transform_layer = tf_transform_output.transform_features_layer()
        raw_spec = tf_transform_output.raw_feature_spec()
        self._raw_spec = raw_spec
        self._serving_spec = {name: spec for name, spec in raw_spec.items() if name != features.LABEL_SOURCE}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(self, examples):
        transformed = self.transform_layer(tf.io.parse_example(examples, self._serving_spec))
        logits = self.model({name: transformed[name] for name in input_names()}, training=False)
        return {PREDICTION_KEY: tf.sigmoid(logits), "logits": logits}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def transform_features(self, examples):
        return self.transform_layer(tf.io.parse_example(examples, self._raw_spec))


def export_serving_model(model, tf_transform_output, export_dir: str, role: ClusterRole) -> None:
    """Saves the serving SavedModel to export_dir on the chief.

    Other workers save to a scratch folder that is then deleted: saving
    distributed variables can involve collective ops every worker must join.
    """
    module = _ServingModule(model, tf_transform_output)
    target = scratch_dir(export_dir, role)
    signatures = {
        SERVING_SIGNATURE: module.serve.get_concrete_function(),
        TRANSFORM_SIGNATURE: module.transform_features.get_concrete_function(),
    }
    tf.saved_model.save(module, target, signatures=signatures)
    if not role.is_chief:
        shutil.rmtree(target, ignore_errors=True)
