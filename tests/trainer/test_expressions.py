"""The derived-label expression language: what it allows, what it refuses, and TF/NumPy agreement."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from trainer import expressions
from trainer.expressions import ExpressionError

COLUMNS = {
    "tips": np.array([2.5, 2.0, 1.0, 0.0, 5.0]),
    "fare": np.array([10.0, 10.0, 0.0, 10.0, 0.0]),
    "kind": np.array(["a", "b", "a", "c", "b"], dtype=object),
}


def _both(text: str) -> tuple[np.ndarray, np.ndarray]:
    expression = expressions.parse(text, set(COLUMNS))
    numpy_values = np.asarray(expression.evaluate(COLUMNS, expressions.NUMPY_OPS))
    tensors = {
        "tips": tf.constant(COLUMNS["tips"], tf.float32),
        "fare": tf.constant(COLUMNS["fare"], tf.float32),
        "kind": tf.constant(list(COLUMNS["kind"])),
    }
    tf_values = expression.evaluate(tensors, expressions.TF_OPS).numpy()
    return numpy_values, tf_values


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tips > 0.2 * fare", [True, False, True, False, True]),
        ("tips / fare", [0.25, 0.2, 0.0, 0.0, 0.0]),  # division by zero gives 0
        ("kind == 'a' or tips >= 5", [True, False, True, False, True]),
        ("not (kind == 'b')", [True, False, True, True, False]),
        ("0 < tips <= 2.5", [True, True, True, False, False]),
        ("'high' if tips > 1.5 else 'low'", [b"high", b"high", b"low", b"low", b"high"]),
        ("max(tips, 1) - abs(-1)", [1.5, 1.0, 0.0, 0.0, 4.0]),
        ("log1p(fare) > 2", [True, True, False, True, False]),
    ],
)
def test_numpy_and_tensorflow_agree(text, expected):
    numpy_values, tf_values = _both(text)
    if isinstance(expected[0], bytes):
        assert [value.encode() if isinstance(value, str) else value for value in numpy_values] == expected
        assert list(tf_values) == expected
    else:
        np.testing.assert_allclose(numpy_values.astype(float), np.array(expected, dtype=float), rtol=1e-6)
        np.testing.assert_allclose(tf_values.astype(float), np.array(expected, dtype=float), rtol=1e-6)


def test_columns_are_the_names_read_not_the_functions_called():
    assert expressions.parse("max(tips, fare) > 3 and kind == 'a'").columns == {"tips", "fare", "kind"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os')", r"only abs, min, max, log1p can be called"),
        ("tips.real", r"Attribute is not allowed"),
        ("tips[0]", r"Subscript is not allowed"),
        ("[tips]", r"List is not allowed"),
        ("tips ** 2", r"Pow is not allowed"),
        ("lambda: 1", r"Lambda is not allowed"),
        ("abs(tips, fare)", r"abs\(\) takes 1 argument"),
        ("tips >", r"is not a valid expression"),
        ("None", r"constant None is not allowed"),
    ],
)
def test_anything_outside_the_language_is_refused(text, message):
    with pytest.raises(ExpressionError, match=message):
        expressions.parse(text)


def test_unknown_columns_are_named_with_the_known_ones():
    with pytest.raises(
        ExpressionError, match=r"reads 'tip', not a column of the schema; columns are: fare, kind, tips"
    ):
        expressions.parse("tip > 1", set(COLUMNS))


def test_evaluating_without_a_column_says_which():
    with pytest.raises(ExpressionError, match=r"no values for column\(s\) fare"):
        expressions.parse("tips > fare").evaluate({"tips": np.zeros(2)}, expressions.NUMPY_OPS)
