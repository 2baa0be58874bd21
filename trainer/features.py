"""What the model reads and predicts, resolved from the curated schema and the task config.

`resolve_task(schema, settings)` is the one place that decides, for a data set
it has never seen, which columns are model inputs and how each is
transformed, and what the label is. The result, a `TaskSpec`, travels as JSON
in the components' custom_config to Transform, the Tuner, the Trainer and the
validation gate, so every step reads the same decision.

Rules (each can be overridden per feature in `task.features.overrides`):
- Inputs are the schema's features available at serving, except the label,
  the columns a derived label reads when they are absent at serving, and
  `task.features.exclude`.
- A BYTES feature, a string or bool domain, or an INT feature whose
  `int_domain` says `is_categorical: true` is categorical (a vocabulary with an
  OOV bucket); other INT and FLOAT features are numeric (z-score).
- A feature without a fixed `shape` may be missing: a missing numeric value
  takes the mean and a `<name>_present` indicator input is added; a missing
  bucketized value has a bucket of its own; a missing category is its own token.
"""

from __future__ import annotations

import enum
import re
from typing import Literal

import pydantic
from tensorflow_metadata.proto.v0 import schema_pb2

from common import filesystem
from trainer import expressions
from trainer.settings import FeatureOverride, TaskSettings, TaskType

__all__ = [
    "LABEL_KEY",
    "LABEL_VOCABULARY",
    "SERVING_ENVIRONMENT",
    "TASK_KEY",
    "FeatureKind",
    "FeatureSpec",
    "LabelSpec",
    "TaskError",
    "TaskSpec",
    "load_schema",
    "presence_name",
    "resolve_task",
    "transformed_name",
    "vocabulary_name",
]

# Where the resolved TaskSpec travels in a component's custom_config.
TASK_KEY = "task"
# The Transform output holding the label; no transformed feature name can take it.
LABEL_KEY = "__label__"
# The vocabulary file of a classification label: the class names, in class-id order.
LABEL_VOCABULARY = "__label__"
SERVING_ENVIRONMENT = "SERVING"
_DEFAULT_NUM_BUCKETS = 10
SchemaType = Literal["INT", "FLOAT", "BYTES"]


class TaskError(ValueError):
    """The task config does not fit the schema; the message names the key, the feature and the fix."""


class FeatureKind(str, enum.Enum):
    """How a model input is transformed."""

    NUMERIC = "numeric"  # z-score
    BUCKETIZED = "bucketized"  # quantile buckets, 0 for missing
    CATEGORICAL = "categorical"  # vocabulary ids, with an OOV bucket


class _Spec(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


class FeatureSpec(_Spec):
    """One model input: a raw column and its transform."""

    name: str
    kind: FeatureKind
    dtype: SchemaType
    optional: bool
    log1p: bool = False
    clip_min: float | None = None
    clip_max: float | None = None
    num_buckets: int | None = None
    top_k: int | None = None


class LabelSpec(_Spec):
    """What is predicted: a column, or a label derived from columns."""

    name: str
    # The schema type of a label column; None for a derived label.
    dtype: SchemaType | None = None
    expression: str | None = None
    fn: str | None = None
    positive_class: str | float | bool | None = None
    # Raw columns the label is computed from (the column itself for a plain label).
    source_columns: tuple[str, ...] = ()


class TaskSpec(_Spec):
    """The resolved task: its type, label, model inputs and evaluation slices."""

    type: TaskType
    label: LabelSpec
    features: tuple[FeatureSpec, ...]
    slices: tuple[str, ...] = ()

    def feature(self, name: str) -> FeatureSpec:
        """The input called `name`.

        Raises:
          KeyError: If it is not a model input.
        """
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(name)

    @property
    def input_columns(self) -> tuple[str, ...]:
        """The raw columns the model reads at serving time."""
        return tuple(feature.name for feature in self.features)


def transformed_name(name: str) -> str:
    """Name of a model input after Transform; distinct so raw and transformed never mix."""
    return f"{name}_xf"


def presence_name(name: str) -> str:
    """The 0/1 input saying whether an optional numeric feature was present."""
    return f"{name}_present_xf"


def vocabulary_name(name: str) -> str:
    """Transform's vocabulary file name for a categorical input (a safe file name)."""
    return "vocab_" + re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def load_schema(path: str) -> schema_pb2.Schema:
    """Reads a schema.pbtxt (local or remote path).

    Raises:
      TaskError: If the file cannot be read or is not a valid text schema, naming it.
    """
    from google.protobuf import text_format

    try:
        text = filesystem.read_text(path, "schema.pbtxt")
    except filesystem.UnreadableFileError as error:
        raise TaskError(str(error)) from None
    try:
        return text_format.Parse(text, schema_pb2.Schema())
    except text_format.ParseError as error:
        raise TaskError(f"{path}: not a valid schema.pbtxt: {error}") from None


def resolve_task(schema: schema_pb2.Schema, settings: TaskSettings, schema_path: str = "the schema") -> TaskSpec:
    """Decides the label and the model inputs for a schema and a task config.

    Args:
      schema: The curated schema.
      settings: The config's `task:` section.
      schema_path: Named in error messages.

    Raises:
      TaskError: On a label or feature the schema lacks, a label whose type
        does not fit the task, an override that does not fit its feature, or a
        label that leaks into the inputs. The message names the config key.
    """
    columns = {feature.name: feature for feature in schema.feature}
    domains = {domain.name for domain in schema.string_domain}
    label = _resolve_label(settings, columns, schema_path)
    _check_names(settings, columns, schema_path)
    excluded = set(settings.features.exclude) | {label.name}
    if settings.label_expression or settings.label_fn:
        # A derived label's sources are inputs only where they are sent at serving (fare in tips > 0.2 * fare).
        excluded |= {name for name in label.source_columns if not _at_serving(columns[name])}
    features = []
    for name, column in columns.items():
        if name in excluded or not _at_serving(column):
            continue
        override = settings.features.overrides.get(name, FeatureOverride())
        features.append(_resolve_feature(column, override, domains))
    if not features:
        raise TaskError(f"task.features: no model inputs remain in {schema_path} after the label and exclusions")
    inputs = {feature.name for feature in features}
    if settings.label_expression and label.source_columns and set(label.source_columns) <= inputs:
        raise TaskError(
            f"task.label_expression {settings.label_expression!r} reads only model inputs "
            f"({', '.join(label.source_columns)}): the model would learn the rule itself. Mark the label's "
            f'source columns `not_in_environment: "{SERVING_ENVIRONMENT}"` in {schema_path}, or add them to '
            "task.features.exclude"
        )
    _check_transformed_names(features)
    return TaskSpec(type=settings.type, label=label, features=tuple(features), slices=settings.slices)


def _at_serving(column: schema_pb2.Feature) -> bool:
    if SERVING_ENVIRONMENT in column.not_in_environment:
        return False
    return not column.in_environment or SERVING_ENVIRONMENT in column.in_environment


def _schema_type(column: schema_pb2.Feature) -> str:
    return schema_pb2.FeatureType.Name(column.type)


def _check_names(settings: TaskSettings, columns: dict, schema_path: str) -> None:
    named = {
        "task.features.exclude": settings.features.exclude,
        "task.features.overrides": tuple(settings.features.overrides),
        "task.slices": settings.slices,
    }
    for key, names in named.items():
        unknown = sorted(set(names) - set(columns))
        if unknown:
            raise TaskError(
                f"{key}: {', '.join(repr(name) for name in unknown)} not in {schema_path}; "
                f"its features are: {', '.join(sorted(columns))}"
            )
    overridden_label = settings.label in settings.features.overrides
    if overridden_label:
        raise TaskError(f"task.features.overrides.{settings.label}: the label is not a model input")


def _resolve_label(settings: TaskSettings, columns: dict, schema_path: str) -> LabelSpec:
    if settings.label_expression is not None:
        try:
            expression = expressions.parse(settings.label_expression, set(columns))
        except expressions.ExpressionError as error:
            raise TaskError(f"task.label_expression: {error}") from None
        if settings.label in columns:
            raise TaskError(
                f"task.label: {settings.label!r} is a column of {schema_path}; a derived label needs a new name"
            )
        result = _expression_type(expression, columns)
        _check_label_type(settings, result, "task.label_expression", is_expression=True)
        return LabelSpec(
            name=settings.label,
            expression=settings.label_expression,
            positive_class=settings.positive_class,
            source_columns=tuple(sorted(expression.columns)),
        )
    if settings.label_fn is not None:
        if settings.label in columns:
            raise TaskError(
                f"task.label: {settings.label!r} is a column of {schema_path}; a derived label needs a new name"
            )
        sources = tuple(name for name, column in columns.items() if not _at_serving(column))
        return LabelSpec(
            name=settings.label, fn=settings.label_fn, positive_class=settings.positive_class, source_columns=sources
        )
    if settings.label not in columns:
        raise TaskError(
            f"task.label: {settings.label!r} is not a column of {schema_path}; its columns are: "
            f"{', '.join(sorted(columns))} (or derive it with task.label_expression)"
        )
    column = columns[settings.label]
    dtype = _schema_type(column)
    if dtype not in ("INT", "FLOAT", "BYTES"):
        raise TaskError(f"task.label: {settings.label!r} has type {dtype}; a label is INT, FLOAT or BYTES")
    kind = {"INT": "integer", "FLOAT": "number", "BYTES": "string"}[dtype]
    _check_label_type(settings, kind, f"task.label {settings.label!r} ({dtype} in {schema_path})")
    positive = settings.positive_class
    if settings.type == "binary" and positive is None:
        positive = 1
    return LabelSpec(name=settings.label, dtype=dtype, positive_class=positive, source_columns=(settings.label,))


def _check_label_type(settings: TaskSettings, kind: str, where: str, is_expression: bool = False) -> None:
    """`kind` is the label's value kind: bool, integer, number or string."""
    task = settings.type
    if task == "regression" and kind not in ("integer", "number"):
        raise TaskError(f"{where}: a regression label must be a number, got {kind} values")
    if task == "multiclass" and kind in ("bool", "number") and not is_expression:
        raise TaskError(
            f"{where}: a multiclass label must be an INT or string column, got {kind} values "
            "(use regression, or a task.label_expression that maps the values to classes)"
        )
    if task == "multiclass" and kind == "bool":
        raise TaskError(f"{where}: a true/false label has two classes: use task.type binary")
    if task == "binary":
        if kind == "string" and settings.positive_class is None:
            raise TaskError(f"{where}: a string label needs task.positive_class, the value that counts as positive")
        if kind == "number" and settings.positive_class is None:
            raise TaskError(
                f"{where}: a numeric label is not binary as it is; derive one with task.label_expression, "
                "e.g. 'value > 0.5', or set task.positive_class"
            )


def _expression_type(expression: expressions.Expression, columns: dict) -> str:
    """bool, number or string: what an expression yields, from its outermost construct."""
    import ast

    def kind(node: ast.AST) -> str:
        if isinstance(node, (ast.Compare, ast.BoolOp)) or (
            isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)
        ):
            return "bool"
        if isinstance(node, ast.IfExp):
            return kind(node.body)
        if isinstance(node, ast.Constant):
            return "bool" if isinstance(node.value, bool) else "string" if isinstance(node.value, str) else "number"
        if isinstance(node, ast.Name):
            return {"BYTES": "string"}.get(_schema_type(columns[node.id]), "number")
        return "number"

    return kind(expression._tree)


def _resolve_feature(column: schema_pb2.Feature, override: FeatureOverride, domains: set[str]) -> FeatureSpec:
    name, dtype = column.name, _schema_type(column)
    where = f"feature {name!r}"
    if dtype not in ("INT", "FLOAT", "BYTES"):
        raise TaskError(f"{where} has type {dtype}, which the model cannot read; add it to task.features.exclude")
    shape = [dim.size for dim in column.shape.dim] if column.HasField("shape") else None
    if (shape is not None and shape != [1]) or (shape is None and column.value_count.max > 1):
        raise TaskError(
            f"{where} holds several values per example; the model reads single values: add it to task.features.exclude"
        )
    categorical = (
        dtype == "BYTES"
        or column.HasField("string_domain")
        or column.HasField("bool_domain")
        or column.domain in domains
        or (column.HasField("int_domain") and column.int_domain.is_categorical)
    )
    kind = (
        FeatureKind(override.kind)
        if override.kind
        else (FeatureKind.CATEGORICAL if categorical else FeatureKind.NUMERIC)
    )
    key = f"task.features.overrides.{name}"
    if kind is not FeatureKind.CATEGORICAL and dtype == "BYTES":
        raise TaskError(f"{key}.kind: {name!r} holds strings; it can only be categorical")
    if override.top_k and kind is not FeatureKind.CATEGORICAL:
        raise TaskError(f"{key}.top_k applies to categorical inputs; {name!r} is {kind.value}")
    if override.num_buckets and kind is not FeatureKind.BUCKETIZED:
        raise TaskError(f"{key}.num_buckets applies to bucketized inputs; {name!r} is {kind.value}")
    numeric_options = override.log1p or override.clip_min is not None or override.clip_max is not None
    if numeric_options and kind is FeatureKind.CATEGORICAL:
        raise TaskError(f"{key}: log1p and clipping apply to numeric inputs; {name!r} is categorical")
    if override.log1p:
        lowest = override.clip_min if override.clip_min is not None else _domain_min(column)
        if lowest is None or lowest < 0:
            raise TaskError(
                f"{key}.log1p: the schema lets {name!r} be negative (no domain min of 0 or more), where log1p "
                f"is undefined below -1; set {key}.clip_min: 0 or bound the feature's domain in the schema"
            )
    return FeatureSpec(
        name=name,
        kind=kind,
        dtype=dtype,
        optional=shape is None,
        log1p=override.log1p,
        clip_min=override.clip_min,
        clip_max=override.clip_max,
        num_buckets=(override.num_buckets or _DEFAULT_NUM_BUCKETS) if kind is FeatureKind.BUCKETIZED else None,
        top_k=override.top_k,
    )


def _domain_min(column: schema_pb2.Feature) -> float | None:
    if column.HasField("float_domain") and column.float_domain.HasField("min"):
        return column.float_domain.min
    if column.HasField("int_domain") and column.int_domain.HasField("min"):
        return float(column.int_domain.min)
    return None


def _check_transformed_names(features: list[FeatureSpec]) -> None:
    seen: dict[str, str] = {}
    for feature in features:
        outputs = [transformed_name(feature.name)]
        if feature.optional and feature.kind is FeatureKind.NUMERIC:
            outputs.append(presence_name(feature.name))
        for output in outputs:
            if output in seen or output == LABEL_KEY:
                raise TaskError(
                    f"features {seen.get(output, feature.name)!r} and {feature.name!r} both become {output!r} "
                    "after Transform; exclude or rename one"
                )
            seen[output] = feature.name
