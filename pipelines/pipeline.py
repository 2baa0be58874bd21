"""Builds the TFX pipeline from a config; every runner calls `create_pipeline`."""

from __future__ import annotations

from ml_metadata.proto import metadata_store_pb2

# Direct modules rather than `tfx.v1`: the v1 facade also imports the Vertex AI
# extensions, which adds about 12 s to every process that builds the pipeline.
from tfx import components as tfx_components
from tfx.dsl.components.base import base_component
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto import example_gen_pb2

from components.curated_schema import CuratedSchemaGen, file_sha256
from components.validation_gate import ValidationGate
from pipelines.config import InputConfig, PipelineConfig

__all__ = [
    "EXAMPLE_GEN_ID",
    "EXAMPLE_VALIDATOR_ID",
    "SCHEMA_GEN_ID",
    "STATISTICS_GEN_ID",
    "VALIDATION_GATE_ID",
    "create_pipeline",
]

# Component ids: the names shown in progress, MLMD and the pipeline root folders.
EXAMPLE_GEN_ID = "ExampleGen"
STATISTICS_GEN_ID = "StatisticsGen"
SCHEMA_GEN_ID = "SchemaGen"
EXAMPLE_VALIDATOR_ID = "ExampleValidator"
VALIDATION_GATE_ID = "ValidationGate"


def create_pipeline(
    config: PipelineConfig,
    metadata_connection_config: metadata_store_pb2.ConnectionConfig | None = None,
) -> tfx_pipeline.Pipeline:
    """Wires the components for one config.

    Args:
      config: The validated pipeline config.
      metadata_connection_config: ML Metadata store for local runs; orchestrators
        such as Kubeflow Pipelines bring their own and pass None.

    Returns:
      The pipeline, ready for any TFX runner.
    """
    example_gen = _example_gen(config.input).with_id(EXAMPLE_GEN_ID)
    statistics_gen = tfx_components.StatisticsGen(examples=example_gen.outputs["examples"]).with_id(STATISTICS_GEN_ID)
    schema_path = config.validation.schema_path
    schema_gen = CuratedSchemaGen(schema_file=schema_path, schema_sha256=file_sha256(schema_path)).with_id(
        SCHEMA_GEN_ID
    )
    example_validator = tfx_components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    ).with_id(EXAMPLE_VALIDATOR_ID)
    validation_gate = ValidationGate(
        anomalies=example_validator.outputs["anomalies"],
        schema=schema_gen.outputs["schema"],
        fail_on=config.validation.fail_on,
    ).with_id(VALIDATION_GATE_ID)

    return tfx_pipeline.Pipeline(
        pipeline_name=config.pipeline.name,
        pipeline_root=config.pipeline.root,
        components=[example_gen, statistics_gen, schema_gen, example_validator, validation_gate],
        enable_cache=config.pipeline.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(config.beam.args),
    )


def _example_gen(input_config: InputConfig) -> base_component.BaseComponent:
    """ImportExampleGen for TFRecords, CsvExampleGen for CSV; latest span, hashed train/eval split."""
    source = example_gen_pb2.Input(
        splits=[example_gen_pb2.Input.Split(name="single_split", pattern=input_config.span_pattern)]
    )
    output = example_gen_pb2.Output(
        split_config=example_gen_pb2.SplitConfig(
            splits=[
                example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=input_config.train_buckets),
                example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=input_config.eval_buckets),
            ]
        )
    )
    if input_config.format == "csv":
        return tfx_components.CsvExampleGen(input_base=input_config.path, input_config=source, output_config=output)
    return tfx_components.ImportExampleGen(input_base=input_config.path, input_config=source, output_config=output)
