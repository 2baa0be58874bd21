"""The Keras 3 model, built from hyperparameters by a pure function.

Always `import keras` (Keras 3), never `tf.keras`: importing tensorflow_transform
sets TF_USE_LEGACY_KERAS=1, which turns `tf.keras` into Keras 2 (tf_keras) in
that process, and KerasTuner only accepts Keras 3 models.
"""

from __future__ import annotations

from collections.abc import Mapping

import keras

from trainer import features
from trainer.features import FeatureKind
from trainer.hyperparameters import Hyperparameters

__all__ = ["build_model", "check_keras_3", "input_names"]


def check_keras_3() -> None:
    """Fails clearly if `keras` is not Keras 3 (e.g. tf_keras installed over it)."""
    if not keras.__version__.startswith("3."):
        raise RuntimeError(f"trainer needs Keras 3, found keras {keras.__version__}; reinstall from requirements.lock")


def input_names() -> tuple[str, ...]:
    """The transformed feature names the model reads, in registry order."""
    return tuple(features.transformed_name(name) for name in features.feature_names())


def build_model(hparams: Hyperparameters, vocabulary_sizes: Mapping[str, int]) -> keras.Model:
    """A wide-and-deep binary classifier over the transformed features; outputs logits.

    Args:
      hparams: Layer sizes, dropout and learning rate.
      vocabulary_sizes: For every categorical or bucketised input (transformed
        name), the number of ids it can take, OOV and missing included.

    Returns:
      An uncompiled Keras 3 model taking a dict of rank-1 tensors.
    """
    check_keras_3()
    numeric_names = {features.transformed_name(name) for name in features.feature_names(FeatureKind.NUMERIC)}
    inputs, numeric_columns, wide, deep = {}, [], [], []
    for name in input_names():
        if name in numeric_names:
            inputs[name] = keras.Input(shape=(), name=name, dtype="float32")
            numeric_columns.append(keras.layers.Reshape((1,), name=f"{name}_column")(inputs[name]))
            continue
        if name not in vocabulary_sizes:
            raise ValueError(f"no vocabulary size for categorical input {name!r}")
        inputs[name] = keras.Input(shape=(), name=name, dtype="int64")
        size = vocabulary_sizes[name]
        # Wide: one weight per id (a one-hot linear term). Deep: a dense embedding.
        wide.append(keras.layers.Embedding(size, 1, name=f"{name}_wide")(inputs[name]))
        embedding_dim = min(hparams.embedding_dim, size)
        deep.append(keras.layers.Embedding(size, embedding_dim, name=f"{name}_embedding")(inputs[name]))

    numeric = keras.layers.Concatenate(name="numeric")(numeric_columns)
    wide.append(keras.layers.Dense(1, name="numeric_wide")(numeric))
    hidden = keras.layers.Concatenate(name="deep_inputs")([numeric, *deep])
    for index in range(hparams.num_layers):
        hidden = keras.layers.Dense(hparams.units, activation="relu", name=f"hidden_{index}")(hidden)
        if hparams.dropout > 0:
            hidden = keras.layers.Dropout(hparams.dropout, name=f"dropout_{index}")(hidden)
    deep_logit = keras.layers.Dense(1, name="deep_logit")(hidden)
    logit = keras.layers.Add(name="logit")([deep_logit, *wide])
    logit = keras.layers.Reshape((), name="logits")(logit)
    return keras.Model(inputs=inputs, outputs=logit, name="taxi_wide_and_deep")
