"""Builds the TFX pipeline from a config; every runner calls `create_pipeline`."""

from __future__ import annotations

import json
import os

from ml_metadata.proto import metadata_store_pb2

# Direct modules rather than `tfx.v1`: the v1 facade also imports the Vertex AI
# extensions, which adds about 12 s to every process that builds the pipeline.
from tfx import components as tfx_components
from tfx.dsl.components.base import base_component
from tfx.dsl.components.common.resolver import Resolver
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import LatestBlessedModelStrategy
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto import example_gen_pb2, pusher_pb2, trainer_pb2, transform_pb2
from tfx.types import Channel, standard_artifacts

from components.batch_evaluator import BatchEvaluator
from components.curated_schema import CuratedSchemaGen, file_sha256
from components.distributed_trainer import DistributedTrainer
from components.example_gen import WindowedCsvExampleGen, WindowedImportExampleGen
from components.example_gen.window import older_split_names
from components.launcher.launch import LAUNCHER_KEY, NUM_WORKERS_KEY
from components.pusher import AtomicPusher
from components.statistics_gen import StatisticsGen
from components.transform import SpanCachedTransform
from components.tuner import Tuner
from components.validation_gate import ValidationGate
from pipelines import evaluation
from pipelines.config import InputConfig, PipelineConfig
from trainer import features, preprocessing, task, tuning
from trainer.code_version import CODE_VERSION_KEY, code_version
from trainer.features import TaskSpec
from trainer.settings import SETTINGS_KEY

__all__ = [
    "EVALUATOR_ID",
    "EXAMPLE_GEN_ID",
    "EXAMPLE_VALIDATOR_ID",
    "MODEL_RESOLVER_ID",
    "PUSHER_ID",
    "SCHEMA_GEN_ID",
    "STATISTICS_GEN_ID",
    "TRAINER_ID",
    "TRANSFORM_ID",
    "TUNER_ID",
    "VALIDATION_GATE_ID",
    "beam_pipeline_args",
    "create_pipeline",
    "qualified_name",
    "resolved_task",
]

# The newest span's hash split; a window's older spans add theirs (components/example_gen/window.py).
TRAIN_SPLIT, EVAL_SPLIT = "train", "eval"
# Under the pipeline root: the gate's drift measures per feature and span, for TensorBoard.
DRIFT_LOG_DIR = "drift"
# Component ids: the names shown in progress, MLMD and the pipeline root folders.
EXAMPLE_GEN_ID = "ExampleGen"
STATISTICS_GEN_ID = "StatisticsGen"
SCHEMA_GEN_ID = "SchemaGen"
EXAMPLE_VALIDATOR_ID = "ExampleValidator"
VALIDATION_GATE_ID = "ValidationGate"
TRANSFORM_ID = "Transform"
TUNER_ID = "Tuner"
TRAINER_ID = "Trainer"
MODEL_RESOLVER_ID = "LatestBlessedModelResolver"
EVALUATOR_ID = "Evaluator"
PUSHER_ID = "Pusher"
# The Beam flags by which TFX sees that the workers already hold TFX (tfx/utils/dependency_utils.py).
_BEAM_DEPENDENCY_FLAGS = (
    "extra_package",
    "extra_packages",
    "setup_file",
    "requirements_file",
    "worker_harness_container_image",
    "sdk_container_image",
)
# The image skaffold builds (artifact tfx-pipeline), when the config names no kubeflow.image.
PIPELINE_IMAGE = "tfx-pipeline"


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
    task_spec = resolved_task(config)
    # Slices are the Evaluator's alone: they stay out of the cache keys of the components that train.
    training_task = task_spec.model_copy(update={"slices": ()})
    task_config = {features.TASK_KEY: training_task.model_dump(mode="json")}
    example_gen = _example_gen(config.input).with_id(EXAMPLE_GEN_ID)
    # The older spans of a window were validated when each was the newest: only the newest is checked.
    older = older_split_names(config.input.window_spans)
    train_splits = [TRAIN_SPLIT, *older]
    statistics_gen = StatisticsGen(examples=example_gen.outputs["examples"], exclude_splits=older).with_id(
        STATISTICS_GEN_ID
    )
    schema_path = config.validation.schema_path
    schema_gen = CuratedSchemaGen(schema_file=schema_path, schema_sha256=file_sha256(schema_path)).with_id(
        SCHEMA_GEN_ID
    )
    example_validator = tfx_components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    ).with_id(EXAMPLE_VALIDATOR_ID)
    model_resolver = Resolver(
        strategy_class=LatestBlessedModelStrategy,
        model=Channel(type=standard_artifacts.Model),
        model_blessing=Channel(type=standard_artifacts.ModelBlessing),
    ).with_id(MODEL_RESOLVER_ID)
    validation_gate = ValidationGate(
        anomalies=example_validator.outputs["anomalies"],
        schema=schema_gen.outputs["schema"],
        fail_on=config.validation.fail_on,
        statistics=statistics_gen.outputs["statistics"],
        examples=example_gen.outputs["examples"],
        task=training_task.model_dump_json(),
        min_examples=config.validation.min_examples,
        code_version=code_version(ValidationGate.EXECUTOR_SPEC.executor_class.__module__),
        baseline_model=model_resolver.outputs["model"],
        drift=json.dumps(
            {
                "input_base": config.input.path,
                "pattern": config.input.pattern,
                "format": config.input.format,
                "log_dir": os.path.join(config.pipeline.root, DRIFT_LOG_DIR),
                "serving_statistics": config.validation.serving_statistics_path,
            }
        ),
    ).with_id(VALIDATION_GATE_ID)
    # Transform and the Trainer wait for the gate's verdict (a failed gate stops them) but read
    # SchemaGen's schema: the gate re-runs when the latest blessed model (its drift baseline)
    # changes, and its outputs as their inputs would then re-run them on unchanged data.
    schema = schema_gen.outputs["schema"]
    transform = SpanCachedTransform(
        examples=example_gen.outputs["examples"],
        schema=schema,
        preprocessing_fn=qualified_name(preprocessing.preprocessing_fn),
        custom_config={**task_config, CODE_VERSION_KEY: _code_version(preprocessing.preprocessing_fn, config)},
        # Analysis only: the Tuner and the Trainer apply the graph to ExampleGen's examples as they read them.
        splits_config=transform_pb2.SplitsConfig(analyze=train_splits),
        analyzer_cache_dir=os.path.join(config.pipeline.root, "analyzer_cache")
        if older and config.input.analyzer_cache
        else None,
    ).with_id(TRANSFORM_ID)
    transform.add_upstream_node(validation_gate)

    training = config.trainer.model_copy(
        update={"checkpoint_root": config.trainer.checkpoint_root or os.path.join(config.pipeline.root, "checkpoints")}
    )
    launcher_config = {LAUNCHER_KEY: config.launcher.model_dump(mode="json")}
    tuner = None
    if config.tuner.enabled:
        # Only what changes the search is in its cache key: a Trainer-only setting does not re-run it.
        tuner_config = {
            SETTINGS_KEY: training.batching().model_dump(mode="json"),
            tuning.TUNING_KEY: config.tuner.model_dump(mode="json", exclude={"enabled", "num_workers"}),
            **task_config,
            CODE_VERSION_KEY: _code_version(tuning.tuner_fn, config),
        }
        if config.tuner.num_workers > 1:
            tuner_config.update({NUM_WORKERS_KEY: config.tuner.num_workers, **launcher_config})
        tuner = Tuner(
            tuner_fn=qualified_name(tuning.tuner_fn),
            examples=example_gen.outputs["examples"],
            transform_graph=transform.outputs["transform_graph"],
            train_args=trainer_pb2.TrainArgs(num_steps=config.tuner.steps_per_trial, splits=train_splits),
            eval_args=trainer_pb2.EvalArgs(splits=[EVAL_SPLIT]),
            custom_config=tuner_config,
        ).with_id(TUNER_ID)
    training_config = {
        SETTINGS_KEY: training.model_dump(mode="json"),
        **task_config,
        CODE_VERSION_KEY: _code_version(task.run_fn, config),
    }
    if training.warm_start:
        # Not a TFX input: a resolved latest model would change after every blessed run and retrain
        # on unchanged data; the Trainer reads the newest pushed version's weights when it trains.
        training_config[task.WARM_START_FROM_KEY] = config.pusher.serving_root
    # One worker: run_fn in this process. More: the Trainer launches them (same run_fn, same outputs).
    if training.num_workers > 1:
        training_config = {**training_config, NUM_WORKERS_KEY: training.num_workers, **launcher_config}
    trainer = DistributedTrainer(
        run_fn=qualified_name(task.run_fn),
        examples=example_gen.outputs["examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema,
        hyperparameters=tuner.outputs["best_hyperparameters"] if tuner else None,
        train_args=trainer_pb2.TrainArgs(num_steps=training.train_steps, splits=train_splits),
        eval_args=trainer_pb2.EvalArgs(splits=[EVAL_SPLIT]),
        custom_config=training_config,
        statistics=statistics_gen.outputs["statistics"],
    ).with_id(TRAINER_ID)
    trainer.add_upstream_node(validation_gate)

    evaluator = BatchEvaluator(
        examples=example_gen.outputs["examples"],
        example_splits=[EVAL_SPLIT],
        model=trainer.outputs["model"],
        schema=schema,
        baseline_model=model_resolver.outputs["model"],
        eval_config=evaluation.eval_config(task_spec, config.evaluator.threshold, config.evaluator.max_relative_drop),
        code_version=code_version(BatchEvaluator.EXECUTOR_SPEC.executor_class.__module__),
    ).with_id(EVALUATOR_ID)
    pusher = AtomicPusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=pusher_pb2.PushDestination(
            filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=config.pusher.serving_root)
        ),
        examples=example_gen.outputs["examples"],
    ).with_id(PUSHER_ID)

    components = [example_gen, statistics_gen, schema_gen, example_validator, validation_gate, transform]
    components += [tuner] if tuner else []
    components += [trainer, model_resolver, evaluator, pusher]
    return tfx_pipeline.Pipeline(
        pipeline_name=config.pipeline.name,
        pipeline_root=config.pipeline.root,
        components=components,
        enable_cache=config.pipeline.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_pipeline_args(config),
    )


def beam_pipeline_args(config: PipelineConfig) -> list[str]:
    """`beam.args`, plus `--sdk_container_image=<the pipeline image>` when they name no dependency flag.

    Given none, TFX packs its own installation into an sdist for every Beam
    component to ship to the workers: ~2.5 s and 42 MB under the temp folder
    each time, never removed. Every runner this pipeline supports runs its
    workers from this image (or, locally, this venv), which already holds TFX
    and this code, and a TFX-only sdist would lack the latter anyway. The
    in-process and EXTERNAL-worker runners ignore the flag; Dataflow uses it.
    """
    args = list(config.beam.args)
    if any(arg.lstrip("-").split("=", 1)[0] in _BEAM_DEPENDENCY_FLAGS for arg in args):
        return args
    image = config.kubeflow.image if config.kubeflow is not None else PIPELINE_IMAGE
    return [*args, f"--sdk_container_image={image}"]


def resolved_task(config: PipelineConfig) -> TaskSpec:
    """The task config resolved against the curated schema: label, model inputs and their transforms."""
    schema_path = config.validation.schema_path
    return features.resolve_task(features.load_schema(schema_path), config.task, schema_path)


def qualified_name(function) -> str:
    """`package.module.function`, the form TFX components take for user functions."""
    return f"{function.__module__}.{function.__qualname__}"


def _code_version(function, config: PipelineConfig) -> str:
    """The hash of the code a component runs: `function`'s module and what it imports, plus task.label_fn's."""
    modules = [function.__module__]
    if config.task.label_fn and function is preprocessing.preprocessing_fn:
        modules.append(config.task.label_fn.rpartition(".")[0])
    return code_version(*modules)


def _example_gen(input_config: InputConfig) -> base_component.BaseComponent:
    """ImportExampleGen for TFRecords, CsvExampleGen for CSV (both naming unreadable files): the window
    of spans, the newest one hash-split into train and eval."""
    source = example_gen_pb2.Input(
        splits=[example_gen_pb2.Input.Split(name="single_split", pattern=input_config.pattern)]
    )
    output = example_gen_pb2.Output(
        split_config=example_gen_pb2.SplitConfig(
            splits=[
                example_gen_pb2.SplitConfig.Split(name=TRAIN_SPLIT, hash_buckets=input_config.train_buckets),
                example_gen_pb2.SplitConfig.Split(name=EVAL_SPLIT, hash_buckets=input_config.eval_buckets),
            ]
        )
    )
    component = WindowedCsvExampleGen if input_config.format == "csv" else WindowedImportExampleGen
    version = code_version(component.EXECUTOR_SPEC.executor_class.__module__)
    return component(input_config.path, source, output, input_config.window_spans, version)
