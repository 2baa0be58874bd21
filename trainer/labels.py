"""The label from raw inputs: a column, an expression over columns, or a user function.

`label_values` gives the label's raw values as a rank-1 tensor; `binary_label`
turns them into 0/1. Transform (through preprocessing_fn) and the validation
gate (which checks the label's classes before anything trains) both call these,
so they agree on what the label is.
"""

from __future__ import annotations

import importlib

import tensorflow as tf

from trainer import expressions
from trainer.features import LabelSpec

__all__ = ["binary_label", "dense", "import_function", "label_values"]


def dense(tensor, default) -> tuple[tf.Tensor, tf.Tensor]:
    """A rank-1 tensor from a [batch, 1] dense or sparse input, and a mask of present values."""
    if isinstance(tensor, tf.SparseTensor):
        shape = [tensor.dense_shape[0], 1]
        default = tf.cast(default, tensor.values.dtype) if tensor.dtype != tf.string else default
        values = tf.sparse.to_dense(tf.SparseTensor(tensor.indices, tensor.values, shape), default)
        present = tf.sparse.to_dense(
            tf.SparseTensor(tensor.indices, tf.ones_like(tensor.values, dtype=tf.bool), shape), False
        )
        return tf.squeeze(values, axis=1), tf.squeeze(present, axis=1)
    if tensor.shape.rank == 2:
        tensor = tf.squeeze(tensor, axis=1)
    return tensor, tf.ones_like(tensor, dtype=tf.bool)


def import_function(dotted: str):
    """The function at a dotted path, e.g. `my_package.labels.big_spender`.

    Raises:
      ValueError: If the module or the function does not exist, naming the path.
    """
    module_name, _, function_name = dotted.rpartition(".")
    try:
        function = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError, ValueError) as error:
        raise ValueError(f"task.label_fn {dotted!r} cannot be imported: {error}") from None
    if not callable(function):
        raise ValueError(f"task.label_fn {dotted!r} is not a function")
    return function


def _column_values(tensor) -> tf.Tensor:
    """A column as an expression sees it: numbers as float32 (missing: 0), strings as strings (missing: '')."""
    is_string = tensor.dtype == tf.string
    values, _ = dense(tensor, default="" if is_string else 0)
    return values if is_string else tf.cast(values, tf.float32)


def label_values(inputs: dict, label: LabelSpec) -> tf.Tensor:
    """The label's raw values for a batch of raw inputs, as a rank-1 tensor.

    A column keeps its type (missing values are 0 or ''); an expression gives
    bool, float32 or string values; `label_fn` gives whatever it returns.
    """
    if label.expression is not None:
        expression = expressions.parse(label.expression)
        columns = {name: _column_values(inputs[name]) for name in expression.columns}
        return tf.convert_to_tensor(expression.evaluate(columns, expressions.TF_OPS))
    if label.fn is not None:
        values = tf.convert_to_tensor(import_function(label.fn)(inputs))
        return tf.squeeze(values, axis=1) if values.shape.rank == 2 else values
    default = "" if inputs[label.name].dtype == tf.string else 0
    values, _ = dense(inputs[label.name], default=default)
    return values


def binary_label(values: tf.Tensor, positive_class) -> tf.Tensor:
    """1 where the label value is the positive class (or true), else 0, as int64."""
    if positive_class is None or (values.dtype == tf.bool and positive_class is True):
        positive = tf.cast(values, tf.bool) if values.dtype == tf.bool else tf.not_equal(values, 0)
    elif values.dtype == tf.string:
        text = (
            str(int(positive_class))
            if isinstance(positive_class, float) and positive_class.is_integer()
            else str(positive_class)
        )
        positive = tf.equal(values, text)
    else:
        positive = tf.equal(tf.cast(values, tf.float64), float(positive_class))
    return tf.cast(positive, tf.int64)
