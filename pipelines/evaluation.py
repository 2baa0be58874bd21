"""The Evaluator's config (a TFMA EvalConfig), per task: which metrics, which slices, and what blesses a model.

TFX's Evaluator computes it (TFMA, or FastEvaluatorExecutor under fast executors); TFMA's readers read its results.

Each task has one deciding metric: AUC (binary), accuracy (multiclass) or
RMSE (regression). A model is blessed when that metric, on the overall eval
split, reaches `evaluator.threshold` (a floor; a ceiling for RMSE) and is worse
than the latest blessed model's by at most `evaluator.max_relative_drop` of
its value. The other metrics and the per-slice values are reported, not gated.
"""

from __future__ import annotations

import json

import tensorflow_model_analysis as tfma

from trainer import export, features
from trainer.features import TaskSpec
from trainer.heads import HEAD_CLASSES, MetricGoal

__all__ = ["deciding_metric", "eval_config"]

# (TFMA or Keras metric class, the name it is reported under) per task; names match the heads' metrics.
_METRICS = {
    "binary": (("AUC", "auc"), ("BinaryAccuracy", "accuracy")),
    "multiclass": (("SparseCategoricalAccuracy", "accuracy"),),
    "regression": (("RootMeanSquaredError", "rmse"), ("MeanAbsoluteError", "mae")),
}


def deciding_metric(task_type: str) -> MetricGoal:
    """The metric that blesses a model of this task type (its head's goal), as TFMA reports it."""
    return HEAD_CLASSES[task_type].goal


def eval_config(task: TaskSpec, threshold: float, max_relative_drop: float) -> tfma.EvalConfig:
    """TFMA config for a task: the deciding metric gated on the overall slice, the rest reported per slice.

    Args:
      task: The resolved task (type, label, slices).
      threshold: The deciding metric's floor (AUC, accuracy) or ceiling (RMSE).
      max_relative_drop: Largest worsening against the latest blessed model,
        as a fraction of its value (0.01 = 1%).

    The label comes from the exported model's transform_features signature,
    which applies the same Transform graph as training.
    """
    deciding = deciding_metric(task.type)
    if deciding.higher_is_better:
        bound = tfma.GenericValueThreshold(lower_bound={"value": threshold})
        direction, change = tfma.MetricDirection.HIGHER_IS_BETTER, -max_relative_drop
    else:
        bound = tfma.GenericValueThreshold(upper_bound={"value": threshold})
        direction, change = tfma.MetricDirection.LOWER_IS_BETTER, max_relative_drop
    gate = tfma.MetricThreshold(
        value_threshold=bound,
        change_threshold=tfma.GenericChangeThreshold(direction=direction, relative={"value": change}),
    )
    metrics = [tfma.MetricConfig(class_name="ExampleCount")]
    for class_name, name in _METRICS[task.type]:
        config = tfma.MetricConfig(class_name=class_name, config=json.dumps({"name": name}))
        if name == deciding.name:
            # On the overall slice only: a slice may hold a single class (AUC undefined) or a handful of rows.
            config.per_slice_thresholds.append(
                tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()], threshold=gate)
            )
        metrics.append(config)
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name=export.SERVING_SIGNATURE,
                preprocessing_function_names=[export.TRANSFORM_SIGNATURE],
                label_key=features.LABEL_KEY,
                prediction_key=HEAD_CLASSES[task.type].prediction_key,
            )
        ],
        slicing_specs=[tfma.SlicingSpec(), *(tfma.SlicingSpec(feature_keys=[name]) for name in task.slices)],
        metrics_specs=[tfma.MetricsSpec(metrics=metrics)],
    )
