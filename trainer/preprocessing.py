"""`preprocessing_fn` for the Transform component: one definition for training and serving.

Full-pass analyzers run on Beam over the training split; their results
(means, variances, quantiles, vocabularies) are baked into the transform graph
that the exported model applies to raw serving requests.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from trainer import features
from trainer.features import FeatureKind

__all__ = ["MISSING_TOKEN", "NUM_COORDINATE_BUCKETS", "NUM_OOV_BUCKETS", "preprocessing_fn"]

NUM_COORDINATE_BUCKETS = 10
NUM_OOV_BUCKETS = 1
# The vocabulary analyzer drops empty tokens, so a missing value needs a visible
# token to get an id of its own instead of sharing the OOV bucket.
MISSING_TOKEN = "<missing>"


def preprocessing_fn(inputs: dict) -> dict:
    """Maps raw features to model inputs and derives the label.

    Numerics: log1p (fares and distances are heavy-tailed) then z-score.
    Coordinates: quantile bucket 1..N, 0 when missing.
    Categoricals (ints and strings): vocabulary ids, with an OOV bucket for
    values first seen at serving time; a missing value is its own token.
    Label (training only): tips > TIP_FRACTION_THRESHOLD * fare.
    """
    outputs = {}
    for name in features.feature_names(FeatureKind.NUMERIC):
        value, _ = _dense(inputs[name], default=0.0)
        value = tf.math.log1p(tf.maximum(tf.cast(value, tf.float32), 0.0))
        outputs[features.transformed_name(name)] = tft.scale_to_z_score(value)
    for name in features.feature_names(FeatureKind.COORDINATE):
        value, present = _dense(inputs[name], default=0.0)
        # Missing coordinates take the mean so they do not skew the quantiles,
        # then get bucket 0 of their own.
        filled = tf.where(present, value, tft.mean(inputs[name]))
        buckets = tft.bucketize(filled, num_buckets=NUM_COORDINATE_BUCKETS)
        outputs[features.transformed_name(name)] = tf.where(present, buckets + 1, tf.zeros_like(buckets))
    for name in features.feature_names(FeatureKind.CATEGORICAL_INT) + features.feature_names(
        FeatureKind.CATEGORICAL_STRING
    ):
        tokens = _tokens(inputs[name])
        outputs[features.transformed_name(name)] = tft.compute_and_apply_vocabulary(
            tokens, num_oov_buckets=NUM_OOV_BUCKETS, vocab_filename=name
        )
    if features.LABEL_SOURCE in inputs:
        tips, _ = _dense(inputs[features.LABEL_SOURCE], default=0.0)
        fare, _ = _dense(inputs["fare"], default=0.0)
        outputs[features.LABEL_KEY] = tf.cast(features.is_big_tipper(tips, fare), tf.int64)
    return outputs


def _dense(tensor, default) -> tuple[tf.Tensor, tf.Tensor]:
    """A [batch] tensor from a [batch, 1] dense or sparse input, and a mask of present values."""
    if isinstance(tensor, tf.SparseTensor):
        shape = [tensor.dense_shape[0], 1]
        default = tf.cast(default, tensor.values.dtype) if tensor.dtype != tf.string else default
        values = tf.sparse.to_dense(tf.SparseTensor(tensor.indices, tensor.values, shape), default)
        present = tf.sparse.to_dense(
            tf.SparseTensor(tensor.indices, tf.ones_like(tensor.values, dtype=tf.bool), shape), False
        )
        return tf.squeeze(values, axis=1), tf.squeeze(present, axis=1)
    values = tf.squeeze(tensor, axis=1)
    return values, tf.ones_like(values, dtype=tf.bool)


def _tokens(tensor) -> tf.Tensor:
    """Categorical values as strings, with missing (or empty) values as MISSING_TOKEN."""
    default = "" if tensor.dtype == tf.string else 0
    values, present = _dense(tensor, default=default)
    if values.dtype != tf.string:
        values = tf.strings.as_string(values)
    present = tf.logical_and(present, tf.strings.length(tf.strings.strip(values)) > 0)
    return tf.where(present, values, tf.fill(tf.shape(values), MISSING_TOKEN))
