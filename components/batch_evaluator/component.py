"""BatchEvaluator: TFX's Evaluator contract (inputs, outputs, eval config, blessing), evaluated in batches.

Same inputs, outputs and EvalConfig as `tfx.components.Evaluator`, and the
same files (TFMA's readers read them) and blessing properties (the
LatestBlessedModel resolver and the Pusher read those); the metrics are
computed over whole arrays instead of per example (evaluate.py), which is
what lets the Evaluator keep up with 100x the sample. It runs in the
component's process, not on the Beam runner.
"""

from __future__ import annotations

import tensorflow_model_analysis as tfma
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import channel, component_spec, standard_artifacts, standard_component_specs
from tfx.utils import json_utils

from components.batch_evaluator import executor
from trainer.code_version import CODE_VERSION_KEY

__all__ = ["BatchEvaluator"]

_EVALUATOR = standard_component_specs.EvaluatorSpec


class BatchEvaluatorSpec(component_spec.ComponentSpec):
    """EvaluatorSpec's eval config, splits, inputs and outputs; model and schema required; the code version."""

    PARAMETERS = {
        **{
            key: _EVALUATOR.PARAMETERS[key]
            for key in (standard_component_specs.EVAL_CONFIG_KEY, standard_component_specs.EXAMPLE_SPLITS_KEY)
        },
        CODE_VERSION_KEY: component_spec.ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {
        **_EVALUATOR.INPUTS,
        standard_component_specs.MODEL_KEY: component_spec.ChannelParameter(type=standard_artifacts.Model),
        # The slice features' types.
        standard_component_specs.SCHEMA_KEY: component_spec.ChannelParameter(type=standard_artifacts.Schema),
    }
    OUTPUTS = _EVALUATOR.OUTPUTS


class BatchEvaluator(base_component.BaseComponent):
    """Evaluates a model against the latest blessed one and blesses it when the eval config's thresholds pass."""

    SPEC_CLASS = BatchEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        examples: channel.BaseChannel,
        model: channel.BaseChannel,
        schema: channel.BaseChannel,
        eval_config: tfma.EvalConfig,
        example_splits: list[str],
        baseline_model: channel.BaseChannel | None = None,
        code_version: str | None = None,
    ):
        """Builds the component.

        Args:
          examples: ExampleGen's examples (raw tf.Examples).
          model: The candidate model (a serving signature and the preprocessing
            signature that yields the label).
          schema: The schema of the raw examples; the slice features are read with its types.
          eval_config: Metrics, slices and thresholds (only what
            evaluate.check_supported accepts).
          example_splits: The splits evaluated on.
          baseline_model: The latest blessed model, for the change thresholds.
          code_version: The hash of the code the executor runs.
        """
        spec = BatchEvaluatorSpec(
            examples=examples,
            model=model,
            schema=schema,
            baseline_model=baseline_model,
            eval_config=eval_config,
            example_splits=json_utils.dumps(example_splits),
            code_version=code_version,
            evaluation=channel.Channel(type=standard_artifacts.ModelEvaluation),
            blessing=channel.Channel(type=standard_artifacts.ModelBlessing),
        )
        super().__init__(spec=spec)
