"""ValidationGate: stops the pipeline when the data breaks its contract or cannot be trained on.

The stock ExampleValidator only records anomalies, so a pipeline trains on bad
data anyway. The gate fails the run with a readable report instead: on
ExampleValidator's anomalies at the configured severity; given the
statistics, the examples and the task, on what training cannot use
(trainability.py: too few examples, non-finite numbers, a label with one
class or no variance); and on drift from a baseline (drift.py: the training
data of the latest blessed model, or before one is blessed the previous
run's data), the label included. On success it writes its verdict and the
schema it validated against.
"""

from __future__ import annotations

from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import artifact, channel, component_spec, standard_artifacts

from components.validation_gate.component_keys import (
    ANOMALIES_KEY,
    BASELINE_MODEL_KEY,
    BASELINE_STATISTICS_KEY,
    DRIFT_KEY,
    EXAMPLES_KEY,
    FAIL_ON_KEY,
    MIN_EXAMPLES_KEY,
    SCHEMA_KEY,
    STATISTICS_KEY,
    TASK_KEY,
    VALIDATED_SCHEMA_KEY,
    VERDICT_KEY,
)
from components.validation_gate.executor import ValidationGateExecutor

__all__ = ["DataValidationVerdict", "ValidationGate"]


class DataValidationVerdict(artifact.Artifact):
    """A passed gate's verdict.json and report.txt (with any findings below the threshold).

    Only a passing gate publishes it: a failing one raises, and TFX removes a
    failed execution's outputs.
    """

    # `<namespace>.<Title>`: the form Kubeflow Pipelines v2 requires of custom artifact types.
    TYPE_NAME = "tfx_pipeline.DataValidationVerdict"


class ValidationGateSpec(component_spec.ComponentSpec):
    """Inputs, outputs and parameters of ValidationGate."""

    PARAMETERS = {
        FAIL_ON_KEY: component_spec.ExecutionParameter(type=str),
        # The resolved task as JSON (trainer/features.py); with it, the trainability checks run.
        TASK_KEY: component_spec.ExecutionParameter(type=str, optional=True),
        MIN_EXAMPLES_KEY: component_spec.ExecutionParameter(type=int, optional=True),
        DRIFT_KEY: component_spec.ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {
        ANOMALIES_KEY: component_spec.ChannelParameter(type=standard_artifacts.ExampleAnomalies),
        SCHEMA_KEY: component_spec.ChannelParameter(type=standard_artifacts.Schema),
        STATISTICS_KEY: component_spec.ChannelParameter(type=standard_artifacts.ExampleStatistics, optional=True),
        EXAMPLES_KEY: component_spec.ChannelParameter(type=standard_artifacts.Examples, optional=True),
        BASELINE_MODEL_KEY: component_spec.ChannelParameter(type=standard_artifacts.Model, optional=True),
        BASELINE_STATISTICS_KEY: component_spec.ChannelParameter(
            type=standard_artifacts.ExampleStatistics, optional=True
        ),
    }
    OUTPUTS = {
        VALIDATED_SCHEMA_KEY: component_spec.ChannelParameter(type=standard_artifacts.Schema),
        VERDICT_KEY: component_spec.ChannelParameter(type=DataValidationVerdict),
    }


class ValidationGate(base_component.BaseComponent):
    """Fails the run when anomalies reach `fail_on` ('error' or 'warning')."""

    SPEC_CLASS = ValidationGateSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(ValidationGateExecutor)

    def __init__(
        self,
        anomalies: channel.BaseChannel,
        schema: channel.BaseChannel,
        fail_on: str,
        statistics: channel.BaseChannel | None = None,
        examples: channel.BaseChannel | None = None,
        task: str | None = None,
        min_examples: int | None = None,
        baseline_model: channel.BaseChannel | None = None,
        baseline_statistics: channel.BaseChannel | None = None,
        drift: str | None = None,
    ):
        """Builds the gate.

        Args:
          anomalies: ExampleValidator's `anomalies` output.
          schema: The schema the anomalies were computed against.
          fail_on: Lowest severity that fails the run: 'error' or 'warning'.
          statistics: StatisticsGen's output, for the trainability checks.
          examples: ExampleGen's output, whose train split's labels are checked.
          task: The resolved TaskSpec as JSON; without it only anomalies are checked.
          min_examples: Fewest examples a split may have (validation.min_examples).
          baseline_model: The latest blessed model; the statistics and label
            profile of its training data are the drift baseline.
          baseline_statistics: The latest statistics of an earlier run: the
            drift baseline until a model is blessed.
          drift: JSON settings of the drift check (component_keys.DRIFT_KEY);
            without them, no drift is checked.
        """
        spec = ValidationGateSpec(
            anomalies=anomalies,
            schema=schema,
            fail_on=fail_on,
            statistics=statistics,
            examples=examples,
            task=task,
            min_examples=min_examples,
            baseline_model=baseline_model,
            baseline_statistics=baseline_statistics,
            drift=drift,
            validated_schema=channel.Channel(type=standard_artifacts.Schema),
            verdict=channel.Channel(type=DataValidationVerdict),
        )
        super().__init__(spec=spec)
