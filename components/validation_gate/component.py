"""ValidationGate: stops the pipeline when ExampleValidator's anomalies reach a severity.

The stock ExampleValidator only records anomalies, so a pipeline trains on bad
data anyway. The gate fails the run with a readable report instead, and on
success outputs the schema it validated against: downstream components read
that schema, which makes them depend on the gate through data (and lineage).
"""

from __future__ import annotations

from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import artifact, channel, component_spec, standard_artifacts

from components.validation_gate import executor
from components.validation_gate.component_keys import (
    ANOMALIES_KEY,
    FAIL_ON_KEY,
    SCHEMA_KEY,
    VALIDATED_SCHEMA_KEY,
    VERDICT_KEY,
)

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

    PARAMETERS = {FAIL_ON_KEY: component_spec.ExecutionParameter(type=str)}
    INPUTS = {
        ANOMALIES_KEY: component_spec.ChannelParameter(type=standard_artifacts.ExampleAnomalies),
        SCHEMA_KEY: component_spec.ChannelParameter(type=standard_artifacts.Schema),
    }
    OUTPUTS = {
        VALIDATED_SCHEMA_KEY: component_spec.ChannelParameter(type=standard_artifacts.Schema),
        VERDICT_KEY: component_spec.ChannelParameter(type=DataValidationVerdict),
    }


class ValidationGate(base_component.BaseComponent):
    """Fails the run when anomalies reach `fail_on` ('error' or 'warning')."""

    SPEC_CLASS = ValidationGateSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, anomalies: channel.BaseChannel, schema: channel.BaseChannel, fail_on: str):
        """Builds the gate.

        Args:
          anomalies: ExampleValidator's `anomalies` output.
          schema: The schema the anomalies were computed against.
          fail_on: Lowest severity that fails the run: 'error' or 'warning'.
        """
        spec = ValidationGateSpec(
            anomalies=anomalies,
            schema=schema,
            fail_on=fail_on,
            validated_schema=channel.Channel(type=standard_artifacts.Schema),
            verdict=channel.Channel(type=DataValidationVerdict),
        )
        super().__init__(spec=spec)
