"""An evaluation in batches: score the eval split with each model, then compute metrics per slice over whole arrays.

TFMA's Evaluator runs each example through Python (unbatching, per-example
metric combiners). Here each model scores batches of serialized examples through its
own signatures, the labels, predictions and slice values are gathered into
arrays, and every metric of every slice is one numpy expression
(components/evaluator/metrics.py). The results are TFMA's own types
(MetricKey, slice keys, ValidationResult) and the thresholds are checked by
TFMA's validator, so the gate means what an EvalConfig says and TFMA's readers
(`tfma.load_eval_result`, `tfma.load_validation_result`) read the output.

Supported: the metric classes in `metrics.METRICS`, the overall slice and
single-feature slices. An eval config asking for more is refused by
`check_supported` before any model is loaded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics import metric_specs, metric_types
from tensorflow_model_analysis.writers import metrics_plots_and_validations_writer as tfma_writer

from common import records
from components.evaluator import metrics as metrics_lib

__all__ = ["ModelScores", "SliceValues", "check_supported", "metric_configs", "score", "sliced_metrics", "validate"]

SliceKey = tuple  # () for the overall slice, ((column, value),) for a feature's value


@dataclasses.dataclass
class ModelScores:
    """One model's labels and predictions, a row per eval example."""

    labels: np.ndarray
    predictions: np.ndarray


@dataclasses.dataclass
class SliceValues:
    """Which examples hold which value of one feature: (row, code) pairs, codes naming `values`."""

    rows: list = dataclasses.field(default_factory=list)
    codes: list = dataclasses.field(default_factory=list)
    values: dict = dataclasses.field(default_factory=dict)


def metric_configs(eval_config: tfma.EvalConfig) -> list[tuple[str, str]]:
    """(TFMA class name, reported name) of every metric the config asks for."""
    configs = []
    for spec in eval_config.metrics_specs:
        for metric in spec.metrics:
            # The name TFMA reports it under (and keys its thresholds by): the config's "name", else the default.
            name = metric_specs.metric_instance(metric).name if metric.class_name in metrics_lib.METRICS else ""
            configs.append((metric.class_name, name))
    return configs


def check_supported(eval_config: tfma.EvalConfig) -> None:
    """Raises ValueError naming what this evaluator does not compute: a metric class, a slicing spec, weights."""
    unknown = sorted({name for name, _ in metric_configs(eval_config) if name not in metrics_lib.METRICS})
    if unknown:
        raise ValueError(
            f"eval config: metric class(es) {unknown} are not computed by FastEvaluatorExecutor; "
            f"it computes {sorted(metrics_lib.METRICS)} (components/evaluator/metrics.py)"
        )
    for spec in eval_config.slicing_specs:
        if spec.feature_values or spec.slice_keys_sql or len(spec.feature_keys) > 1:
            raise ValueError(
                f"eval config: slicing spec {_text(spec)!r} is not supported; "
                "use the overall slice or one feature key per spec"
            )
    for model_spec in eval_config.model_specs:
        if model_spec.example_weight_key or model_spec.example_weight_keys:
            raise ValueError(f"eval config: model {model_spec.name!r} has example weights, which are not supported")
    for spec in eval_config.metrics_specs:
        if spec.binarize.ListFields() or spec.aggregate.ListFields() or spec.output_names:
            raise ValueError(f"eval config: metrics spec {_text(spec)!r} binarizes, aggregates or names outputs")


def score(
    files: Sequence[str],
    models: Mapping[str, tfma.ModelSpec],
    model_paths: Mapping[str, str],
    slice_features: Mapping[str, tf.dtypes.DType],
    batch_size: int,
) -> tuple[dict[str, ModelScores], dict[str, SliceValues]]:
    """Reads the examples once, in batches, and scores each batch with every model.

    Args:
      files: Gzipped (`.gz`) or plain TFRecord files of serialized tf.Examples.
      models: Model name -> its spec (signature, preprocessing function, label
        and prediction keys).
      model_paths: Model name -> its SavedModel directory.
      slice_features: Feature -> dtype of each feature the slices name.
      batch_size: Examples per batch.

    Returns:
      Each model's scores, and each slice feature's (row, value) pairs.

    Raises:
      ValueError: If a model lacks a signature or output its spec names.
    """
    loaded = {name: _ScoringModel(model_paths[name], spec) for name, spec in models.items()}
    parsing = {name: tf.io.VarLenFeature(dtype) for name, dtype in slice_features.items()}
    gathered: dict[str, tuple[list, list]] = {name: ([], []) for name in models}
    slices = {name: SliceValues() for name in slice_features}
    num_rows = 0
    for batch in _batches(files, batch_size):
        for name, model in loaded.items():
            labels, predictions = model(batch)
            gathered[name][0].append(labels)
            gathered[name][1].append(predictions)
        if parsing:
            parsed = tf.io.parse_example(batch, parsing)
            for name, values in slices.items():
                _add_slice_values(values, parsed[name], num_rows)
        num_rows += int(batch.shape[0])
    scores = {
        name: ModelScores(_concatenate(labels, ndim=1), _concatenate(predictions, ndim=2))
        for name, (labels, predictions) in gathered.items()
    }
    return scores, slices


def sliced_metrics(
    eval_config: tfma.EvalConfig,
    scores: Mapping[str, ModelScores],
    slices: Mapping[str, SliceValues],
    baseline_name: str | None,
) -> list[tuple[SliceKey, dict[metric_types.MetricKey, float]]]:
    """Every metric of every model on every slice, plus the candidate's difference to the baseline.

    Slices follow the config's slicing specs: the overall slice, and one slice
    per value of a spec's feature (an example without the feature is in none).
    """
    configs = metric_configs(eval_config)
    results = []
    for spec in eval_config.slicing_specs:
        if not spec.feature_keys:
            results.append(((), _all_models(configs, scores, None, baseline_name)))
            continue
        (feature,) = spec.feature_keys
        values = slices[feature]
        rows, codes = _concatenate(values.rows, 1, np.int64), _concatenate(values.codes, 1, np.int64)
        names = {code: value for value, code in values.values.items()}
        for code, slice_rows in metrics_lib.group_rows(rows, codes):
            key = ((feature, names[code]),)
            results.append((key, _all_models(configs, scores, slice_rows, baseline_name)))
    return results


def validate(
    eval_config: tfma.EvalConfig,
    results: Sequence[tuple[SliceKey, Mapping[metric_types.MetricKey, float]]],
    rubber_stamp: bool,
) -> tfma.ValidationResult:
    """Checks the config's thresholds on every slice with TFMA's own validator, combined as TFMA does."""
    from tensorflow_model_analysis.evaluators import metrics_validator

    combine = tfma_writer.CombineValidations(eval_config, rubber_stamp=rubber_stamp)
    accumulator = combine.create_accumulator()
    for slice_key, values in results:
        accumulator = combine.add_input(
            accumulator, metrics_validator.validate_metrics((slice_key, values), eval_config)
        )
    return combine.extract_output(accumulator)


class _ScoringModel:
    """A SavedModel's label (from its preprocessing signature) and prediction (from its serving one) for a batch."""

    def __init__(self, path: str, spec: tfma.ModelSpec):
        self._path = path
        self._spec = spec
        model = tf.saved_model.load(path)
        self._keep_alive = model
        self._serve = self._signature(model, spec.signature_name or "serving_default")
        if len(spec.preprocessing_function_names) != 1:
            raise ValueError(
                f"model {spec.name!r}: the eval config must name exactly one preprocessing function "
                f"(the one that yields the label), got {list(spec.preprocessing_function_names)}"
            )
        self._preprocess = self._signature(model, spec.preprocessing_function_names[0])

    def __call__(self, batch: tf.Tensor) -> tuple[np.ndarray, np.ndarray]:
        transformed = self._preprocess(batch)
        outputs = self._serve(batch)
        labels = self._output(transformed, self._spec.label_key, "label_key")
        predictions = self._output(outputs, self._spec.prediction_key, "prediction_key")
        return labels.reshape(-1), predictions.reshape(predictions.shape[0], -1)

    def _signature(self, model, name: str):
        if name not in model.signatures:
            raise ValueError(f"model at {self._path} has no signature {name!r}; it has {sorted(model.signatures)}")
        signature = model.signatures[name]
        (argument,) = signature.structured_input_signature[1]
        return lambda batch: signature(**{argument: batch})

    def _output(self, outputs: Mapping[str, tf.Tensor], key: str, field: str) -> np.ndarray:
        if key not in outputs:
            raise ValueError(
                f"model at {self._path}: eval config {field} {key!r} is not an output; outputs: {sorted(outputs)}"
            )
        return outputs[key].numpy()


def _batches(files: Sequence[str], batch_size: int):
    return iter(records.read_records(files).batch(batch_size).prefetch(tf.data.AUTOTUNE))


def _add_slice_values(values: SliceValues, feature: tf.SparseTensor, first_row: int) -> None:
    raw = feature.values.numpy()
    if raw.size == 0:
        return
    distinct, inverse = np.unique(raw, return_inverse=True)
    codes = np.array([values.values.setdefault(_slice_value(value), len(values.values)) for value in distinct])
    values.rows.append(feature.indices.numpy()[:, 0] + first_row)
    values.codes.append(codes[inverse])


def _slice_value(value):
    # Slice keys hold str, int or float, as TFMA's do.
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value.item()


def _all_models(configs, scores, rows, baseline_name):
    values: dict[metric_types.MetricKey, float] = {}
    for model_name, model_scores in scores.items():
        labels, predictions = model_scores.labels, model_scores.predictions
        if rows is not None:
            labels, predictions = labels[rows], predictions[rows]
        for name, value in metrics_lib.metric_values(configs, labels, predictions).items():
            values[metric_types.MetricKey(name=name, model_name=model_name, example_weighted=False)] = value
    if baseline_name is not None:
        for key in [key for key in values if key.model_name != baseline_name]:
            values[key.make_diff_key()] = values[key] - values[key.make_baseline_key(baseline_name)]
    return values


def _concatenate(parts: list, ndim: int, dtype=np.float32) -> np.ndarray:
    # No batches (an empty split): an empty array of the right rank.
    if not parts:
        return np.zeros((0,) * ndim, dtype=dtype)
    return np.concatenate(parts)


def _text(message) -> str:
    from google.protobuf import text_format

    return text_format.MessageToString(message, as_one_line=True)
