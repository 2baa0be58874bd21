"""The Keras 3 model, built from hyperparameters and the resolved inputs by a pure function.

Always `import keras` (Keras 3), never `tf.keras`: importing tensorflow_transform
sets TF_USE_LEGACY_KERAS=1, which turns `tf.keras` into Keras 2 (tf_keras) in
that process, and KerasTuner only accepts Keras 3 models.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import keras

from trainer import features
from trainer.features import FeatureKind, TaskSpec
from trainer.hyperparameters import Hyperparameters

__all__ = ["ModelInput", "build_model", "check_keras_3", "model_inputs"]


def check_keras_3() -> None:
    """Fails clearly if `keras` is not Keras 3 (e.g. tf_keras installed over it)."""
    if not keras.__version__.startswith("3."):
        raise RuntimeError(f"trainer needs Keras 3, found keras {keras.__version__}; reinstall from requirements.lock")


@dataclasses.dataclass(frozen=True)
class ModelInput:
    """One transformed column the network reads: a float, or an id below `vocabulary_size`."""

    name: str
    vocabulary_size: int | None = None

    @property
    def is_categorical(self) -> bool:
        return self.vocabulary_size is not None


def model_inputs(task: TaskSpec, vocabulary_sizes: Mapping[str, int]) -> tuple[ModelInput, ...]:
    """The network's inputs for a task, in the task's feature order.

    Args:
      task: The resolved task.
      vocabulary_sizes: For every categorical or bucketized input (by
        transformed name), the number of ids it can take, OOV and missing included.

    Raises:
      ValueError: If a categorical input has no vocabulary size, naming it.
    """
    inputs = []
    for feature in task.features:
        name = features.transformed_name(feature.name)
        if feature.kind is FeatureKind.NUMERIC:
            inputs.append(ModelInput(name))
            if feature.optional:
                inputs.append(ModelInput(features.presence_name(feature.name)))
            continue
        if name not in vocabulary_sizes:
            raise ValueError(f"no vocabulary size for categorical input {name!r}")
        inputs.append(ModelInput(name, vocabulary_sizes[name]))
    return tuple(inputs)


def build_model(hparams: Hyperparameters, inputs: Sequence[ModelInput], num_outputs: int) -> keras.Model:
    """A wide-and-deep network over the transformed inputs; outputs logits (or a standardised value).

    Args:
      hparams: Layer sizes, dropout and learning rate.
      inputs: What it reads (see `model_inputs`).
      num_outputs: 1 for binary and regression, the number of classes for multiclass.

    Returns:
      An uncompiled Keras 3 model taking a dict of rank-1 tensors and giving
      [batch] outputs (one per example) or [batch, num_outputs].
    """
    check_keras_3()
    if not inputs:
        raise ValueError("the model needs at least one input")
    layers, numeric_columns, wide, deep = {}, [], [], []
    for model_input in inputs:
        name = model_input.name
        if not model_input.is_categorical:
            layers[name] = keras.Input(shape=(), name=name, dtype="float32")
            numeric_columns.append(keras.layers.Reshape((1,), name=f"{name}_column")(layers[name]))
            continue
        layers[name] = keras.Input(shape=(), name=name, dtype="int64")
        size = model_input.vocabulary_size
        # Wide: one weight per id and output (a one-hot linear term). Deep: a dense embedding.
        wide.append(keras.layers.Embedding(size, num_outputs, name=f"{name}_wide")(layers[name]))
        embedding_dim = min(hparams.embedding_dim, size)
        deep.append(keras.layers.Embedding(size, embedding_dim, name=f"{name}_embedding")(layers[name]))

    deep_inputs = list(deep)
    if numeric_columns:
        numeric = (
            keras.layers.Concatenate(name="numeric")(numeric_columns)
            if len(numeric_columns) > 1
            else numeric_columns[0]
        )
        wide.append(keras.layers.Dense(num_outputs, name="numeric_wide")(numeric))
        deep_inputs.insert(0, numeric)
    hidden = keras.layers.Concatenate(name="deep_inputs")(deep_inputs) if len(deep_inputs) > 1 else deep_inputs[0]
    for index in range(hparams.num_layers):
        hidden = keras.layers.Dense(hparams.units, activation="relu", name=f"hidden_{index}")(hidden)
        if hparams.dropout > 0:
            hidden = keras.layers.Dropout(hparams.dropout, name=f"dropout_{index}")(hidden)
    deep_output = keras.layers.Dense(num_outputs, name="deep_output")(hidden)
    output = keras.layers.Add(name="output")([deep_output, *wide]) if wide else deep_output
    if num_outputs == 1:
        output = keras.layers.Reshape((), name="logits")(output)
    return keras.Model(inputs=layers, outputs=output, name="wide_and_deep")
