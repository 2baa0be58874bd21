"""`preprocessing_fn` for the Transform component: one definition for training and serving.

It reads the resolved task (trainer/features.py) from custom_config and
transforms each model input by its kind. Full-pass analyzers run on Beam over
the training data; their results (means, variances, quantiles, vocabularies)
are baked into the transform graph that the exported model applies to raw
serving requests.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from trainer import features, labels
from trainer.features import FeatureKind, FeatureSpec, TaskSpec

__all__ = ["MISSING_TOKEN", "NUM_OOV_BUCKETS", "preprocessing_fn", "task_from_config"]

NUM_OOV_BUCKETS = 1
# The vocabulary analyzer drops empty tokens, so a missing value needs a visible
# token to get an id of its own instead of sharing the OOV bucket.
MISSING_TOKEN = "<missing>"


def task_from_config(custom_config: dict) -> TaskSpec:
    """The TaskSpec a component received in its custom_config.

    Raises:
      ValueError: If custom_config has no task, naming the key the pipeline sets.
    """
    if not custom_config or features.TASK_KEY not in custom_config:
        raise ValueError(
            f"custom_config has no {features.TASK_KEY!r}: the pipeline passes the resolved task there "
            "(pipelines/pipeline.py); a hand-built component must pass it too"
        )
    return TaskSpec.model_validate(custom_config[features.TASK_KEY])


def preprocessing_fn(inputs: dict, custom_config: dict) -> dict:
    """Maps raw features to model inputs and derives the label.

    Numeric: optional clip and log1p, then z-score over present values; a
    missing value becomes 0 (the mean) and `<name>_present` says so.
    Bucketized: quantile bucket 1..N over present values, 0 when missing.
    Categorical: vocabulary ids with an OOV bucket for values first seen at
    serving time; a missing value is its own token.
    Label: 0/1 (binary), class ids of the label's vocabulary (multiclass) or
    the value (regression).
    """
    task = task_from_config(custom_config)
    outputs = {}
    for feature in task.features:
        outputs.update(_transform_feature(inputs[feature.name], feature))
    outputs[features.LABEL_KEY] = _encode_label(labels.label_values(inputs, task.label), task)
    return outputs


def _transform_feature(tensor, feature: FeatureSpec) -> dict[str, tf.Tensor]:
    name = features.transformed_name(feature.name)
    if feature.kind is FeatureKind.CATEGORICAL:
        ids = tft.compute_and_apply_vocabulary(
            tokens(tensor),
            top_k=feature.top_k,
            num_oov_buckets=NUM_OOV_BUCKETS,
            vocab_filename=features.vocabulary_name(feature.name),
        )
        return {name: ids}
    values, present = labels.dense(tensor, default=0)
    values = tf.cast(values, tf.float32)
    if feature.clip_min is not None or feature.clip_max is not None:
        low = feature.clip_min if feature.clip_min is not None else values.dtype.min
        high = feature.clip_max if feature.clip_max is not None else values.dtype.max
        values = tf.clip_by_value(values, low, high)
    if feature.log1p:
        values = tf.math.log1p(values)
    observed = tf.boolean_mask(values, present)
    if feature.kind is FeatureKind.BUCKETIZED:
        boundaries = tft.quantiles(observed, num_buckets=feature.num_buckets, epsilon=0.01)
        buckets = tft.apply_buckets(values, boundaries)
        return {name: tf.where(present, buckets + 1, tf.zeros_like(buckets))}
    mean, variance = tft.mean(observed), tft.var(observed)
    scaled = tf.math.divide_no_nan(values - mean, tf.sqrt(variance))
    result = {name: tf.where(present, scaled, tf.zeros_like(scaled))}
    if feature.optional:
        result[features.presence_name(feature.name)] = tf.cast(present, tf.float32)
    return result


def tokens(tensor) -> tf.Tensor:
    """Categorical values as strings, with missing (or blank) values as MISSING_TOKEN."""
    default = "" if tensor.dtype == tf.string else 0
    values, present = labels.dense(tensor, default=default)
    if values.dtype != tf.string:
        values = tf.strings.as_string(values)
    present = tf.logical_and(present, tf.strings.length(tf.strings.strip(values)) > 0)
    return tf.where(present, values, tf.fill(tf.shape(values), MISSING_TOKEN))


def _encode_label(values: tf.Tensor, task: TaskSpec) -> tf.Tensor:
    if task.type == "binary":
        return labels.binary_label(values, task.label.positive_class)
    if task.type == "regression":
        return tf.cast(values, tf.float32)
    if values.dtype.is_floating:  # a numeric expression: its values are class numbers
        values = tf.cast(tf.round(values), tf.int64)
    # Class ids follow the label's vocabulary (most frequent first); a class first
    # seen outside the training data gets -1, which counts as a wrong prediction.
    return tft.compute_and_apply_vocabulary(
        tokens(values), num_oov_buckets=0, default_value=-1, vocab_filename=features.LABEL_VOCABULARY
    )
