"""A small, safe expression language for derived labels, e.g. `revenue > 1.5 * cost`.

An expression is parsed once with Python's `ast` and checked against a short
list of allowed constructs: column names, numbers, strings, True/False,
arithmetic (`+ - * /`, unary `-`), comparisons (chains too), `and`/`or`/`not`,
`a if condition else b`, and the functions `abs`, `min`, `max` and `log1p`.
Nothing else is evaluated: no attributes, calls of other names, subscripts or
imports. Division by zero gives 0.

The same parsed expression is evaluated with TensorFlow ops inside the
Transform graph (`evaluate(..., TF_OPS)`) and with NumPy outside it
(`evaluate(..., NUMPY_OPS)`): the validation gate and the tests compute the
label exactly as training does.
"""

from __future__ import annotations

import ast
import dataclasses
import operator
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["NUMPY_OPS", "TF_OPS", "Expression", "ExpressionError", "Ops", "parse"]

_FUNCTIONS = ("abs", "min", "max", "log1p")


class ExpressionError(ValueError):
    """An expression uses something the language does not allow; the message says what."""


@dataclasses.dataclass(frozen=True)
class Ops:
    """The array operations one backend evaluates expressions with."""

    where: Callable[[Any, Any, Any], Any]
    logical_and: Callable[[Any, Any], Any]
    logical_or: Callable[[Any, Any], Any]
    logical_not: Callable[[Any], Any]
    divide: Callable[[Any, Any], Any]
    functions: Mapping[str, Callable[..., Any]]


def _tf_ops() -> Ops:
    import tensorflow as tf

    return Ops(
        where=tf.where,
        logical_and=tf.logical_and,
        logical_or=tf.logical_or,
        logical_not=tf.logical_not,
        divide=tf.math.divide_no_nan,
        functions={"abs": tf.abs, "min": tf.minimum, "max": tf.maximum, "log1p": tf.math.log1p},
    )


def _numpy_ops() -> Ops:
    import numpy as np

    def divide(numerator, denominator):
        numerator, denominator = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
        safe = np.where(denominator == 0, 1.0, denominator)
        return np.where(denominator == 0, 0.0, numerator / safe)

    return Ops(
        where=np.where,
        logical_and=np.logical_and,
        logical_or=np.logical_or,
        logical_not=np.logical_not,
        divide=divide,
        functions={"abs": np.abs, "min": np.minimum, "max": np.maximum, "log1p": np.log1p},
    )


class _LazyOps:
    """Builds a backend on first use, so importing this module needs neither TensorFlow nor NumPy."""

    def __init__(self, factory: Callable[[], Ops]):
        self._factory, self._ops = factory, None

    def get(self) -> Ops:
        if self._ops is None:
            self._ops = self._factory()
        return self._ops


TF_OPS = _LazyOps(_tf_ops)
NUMPY_OPS = _LazyOps(_numpy_ops)

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul}
_COMPARE = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}


@dataclasses.dataclass(frozen=True)
class Expression:
    """A checked expression and the columns it reads."""

    text: str
    columns: frozenset[str]
    _tree: ast.expr = dataclasses.field(repr=False, compare=False)

    def evaluate(self, columns: Mapping[str, Any], ops: _LazyOps) -> Any:
        """Evaluates on arrays (or tensors) of equal length, one per column the expression reads.

        Raises:
          ExpressionError: If a column the expression reads is not given.
        """
        missing = sorted(self.columns - set(columns))
        if missing:
            raise ExpressionError(f"{self.text!r}: no values for column(s) {', '.join(missing)}")
        return _Evaluator(columns, ops.get()).visit(self._tree)


def parse(text: str, known_columns: frozenset[str] | set[str] | None = None) -> Expression:
    """Parses and checks an expression.

    Args:
      text: The expression, e.g. `revenue > 1.5 * cost`.
      known_columns: When given, every name must be one of these columns.

    Raises:
      ExpressionError: On a syntax error, a construct outside the language, or
        an unknown column; the message quotes the expression and the part.
    """
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as error:
        raise ExpressionError(f"{text!r} is not a valid expression: {error.msg}") from None
    columns = set()
    for node in ast.walk(tree):
        _check_node(node, text)
        if isinstance(node, ast.Name) and not _is_function_name(tree, node):
            columns.add(node.id)
    if known_columns is not None:
        unknown = sorted(columns - set(known_columns))
        if unknown:
            raise ExpressionError(
                f"{text!r} reads {', '.join(repr(name) for name in unknown)}, not a column of the schema; "
                f"columns are: {', '.join(sorted(known_columns))}"
            )
    return Expression(text=text, columns=frozenset(columns), _tree=tree)


_ALLOWED = (
    ast.Name,
    ast.Constant,
    ast.BinOp,
    ast.UnaryOp,
    ast.BoolOp,
    ast.Compare,
    ast.IfExp,
    ast.Call,
    ast.Load,
    ast.And,
    ast.Or,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.Div,
    *_BINARY,
    *_COMPARE,
)


def _check_node(node: ast.AST, text: str) -> None:
    where = f"in {text!r}"
    if not isinstance(node, _ALLOWED):
        raise ExpressionError(f"{type(node).__name__} is not allowed {where}; see trainer/expressions.py")
    if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float, str, bool)):
        raise ExpressionError(f"constant {node.value!r} is not allowed {where}")
    if isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in _FUNCTIONS or node.keywords:
            raise ExpressionError(f"only {', '.join(_FUNCTIONS)} can be called {where}")
        expected = 1 if name in ("abs", "log1p") else 2
        if len(node.args) != expected:
            raise ExpressionError(f"{name}() takes {expected} argument(s) {where}")


def _is_function_name(tree: ast.AST, name: ast.Name) -> bool:
    return any(isinstance(node, ast.Call) and node.func is name for node in ast.walk(tree))


class _Evaluator(ast.NodeVisitor):
    def __init__(self, columns: Mapping[str, Any], ops: Ops):
        self._columns, self._ops = columns, ops

    def visit_Name(self, node: ast.Name) -> Any:
        return self._columns[node.id]

    def visit_Constant(self, node: ast.Constant) -> Any:
        return float(node.value) if isinstance(node.value, int) and not isinstance(node.value, bool) else node.value

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        left, right = self.visit(node.left), self.visit(node.right)
        if isinstance(node.op, ast.Div):
            return self._ops.divide(left, right)
        return _BINARY[type(node.op)](left, right)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:
        operand = self.visit(node.operand)
        if isinstance(node.op, ast.Not):
            return self._ops.logical_not(operand)
        return -operand if isinstance(node.op, ast.USub) else operand

    def visit_BoolOp(self, node: ast.BoolOp) -> Any:
        combine = self._ops.logical_and if isinstance(node.op, ast.And) else self._ops.logical_or
        result = self.visit(node.values[0])
        for value in node.values[1:]:
            result = combine(result, self.visit(value))
        return result

    def visit_Compare(self, node: ast.Compare) -> Any:
        result, left = None, self.visit(node.left)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = self.visit(comparator)
            this = _COMPARE[type(op)](left, right)
            result = this if result is None else self._ops.logical_and(result, this)
            left = right
        return result

    def visit_IfExp(self, node: ast.IfExp) -> Any:
        return self._ops.where(self.visit(node.test), self.visit(node.body), self.visit(node.orelse))

    def visit_Call(self, node: ast.Call) -> Any:
        return self._ops.functions[node.func.id](*[self.visit(arg) for arg in node.args])

    def generic_visit(self, node: ast.AST) -> Any:  # pragma: no cover - parse() rejects everything else
        raise ExpressionError(f"cannot evaluate {type(node).__name__}")
