"""Builds the TFX pipeline from a config; every runner calls `create_pipeline`.

The DAG is TFX's: stock components wherever one does the job, some running
one of our executors (`with_executor`):

- ExampleGen: TFX's ImportExampleGen or CsvExampleGen (our WindowedExampleGen
  for `input.window_spans` > 1), running FastImportExecutor* (CSV: WindowedCsvExecutor*).
- StatisticsGen, Transform, Evaluator: TFX's, running FastStatisticsExecutor*,
  FastTransformExecutor*, FastEvaluatorExecutor* (Transform is our
  SpanCachedTransform with `input.analyzer_cache`).
- ExampleValidator, the two resolvers: TFX's, with TFX's executors.
- Tuner: TFX's, running DistributedTunerExecutor (trials kept, parallel tuners).
- SchemaGen, ValidationGate, Trainer, Pusher: ours, adding what TFX lacks
  (CuratedSchemaGen, ValidationGate, DistributedTrainer, AtomicPusher).

(*) with `performance.fast_executors` (the default); without it, TFX's own
executors run there.
"""

from __future__ import annotations

import json
import os

from ml_metadata.proto import metadata_store_pb2

# Direct modules rather than `tfx.v1`: the v1 facade also imports the Vertex AI
# extensions, which slows down every process that builds the pipeline.
from tfx import components as tfx_components
from tfx.dsl.components.base import base_beam_executor, base_component, executor_spec
from tfx.dsl.components.common.resolver import Resolver
from tfx.dsl.input_resolution.strategies.latest_artifact_strategy import LatestArtifactStrategy
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import LatestBlessedModelStrategy
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto import example_gen_pb2, pusher_pb2, trainer_pb2, transform_pb2
from tfx.types import Channel, standard_artifacts

from common.code_version import CODE_VERSION_KEY, code_version
from components import artifacts
from components.curated_schema import CuratedSchemaGen, file_sha256
from components.distributed_trainer import DistributedTrainer
from components.evaluator import FastEvaluatorExecutor
from components.example_gen import FastImportExecutor, WindowedCsvExecutor, WindowedExampleGen, WindowedImportExecutor
from components.pusher import AtomicPusher
from components.statistics_gen import FastStatisticsExecutor
from components.transform import FastTransformExecutor, SpanCachedTransform
from components.tuner import DistributedTunerExecutor
from components.validation_gate import ValidationGate, drift
from launcher.launch import LAUNCHER_KEY, NUM_WORKERS_KEY
from pipelines import evaluation
from pipelines.config import InputConfig, PipelineConfig, load_drift_thresholds
from trainer import features, preprocessing, task, tuning
from trainer.features import TaskSpec
from trainer.settings import SETTINGS_KEY

__all__ = [
    "CODE_VERSION_FLAG",
    "EVALUATOR_ID",
    "EXAMPLE_GEN_ID",
    "EXAMPLE_VALIDATOR_ID",
    "MODEL_RESOLVER_ID",
    "PUSHER_ID",
    "SCHEMA_GEN_ID",
    "STATISTICS_GEN_ID",
    "STATISTICS_RESOLVER_ID",
    "TRAINER_ID",
    "TRANSFORM_ID",
    "TUNER_ID",
    "VALIDATION_GATE_ID",
    "beam_pipeline_args",
    "create_pipeline",
    "qualified_name",
    "resolved_task",
    "with_executor",
]

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
STATISTICS_RESOLVER_ID = "LatestStatisticsResolver"
EVALUATOR_ID = "Evaluator"
PUSHER_ID = "Pusher"
# The extra flag of our executors' specs: the hash of their code, in the cache key (TFX keys on the spec).
CODE_VERSION_FLAG = "code_version"
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
    fast = config.performance.fast_executors

    def faster(component: base_component.BaseComponent, executor_class: type) -> base_component.BaseComponent:
        return with_executor(component, executor_class) if fast else component

    # The older spans of a window were validated when each was the newest: only the newest is checked.
    older = artifacts.older_split_names(config.input.window_spans)
    train_splits = [artifacts.TRAIN_SPLIT, *older]
    eval_args = trainer_pb2.EvalArgs(splits=[artifacts.EVAL_SPLIT])

    example_gen = _example_gen(config.input, fast).with_id(EXAMPLE_GEN_ID)
    examples = example_gen.outputs["examples"]
    # TFDV's statistics, with quantile histograms fine enough for the gate's drift measures.
    stock_statistics_gen = tfx_components.StatisticsGen(
        examples=examples, exclude_splits=older, stats_options=drift.statistics_options()
    )
    statistics_gen = faster(stock_statistics_gen, FastStatisticsExecutor).with_id(STATISTICS_GEN_ID)
    statistics = statistics_gen.outputs["statistics"]
    schema_path = config.validation.schema_path
    schema_gen = CuratedSchemaGen(schema_file=schema_path, schema_sha256=file_sha256(schema_path)).with_id(
        SCHEMA_GEN_ID
    )
    schema = schema_gen.outputs["schema"]
    example_validator = tfx_components.ExampleValidator(statistics=statistics, schema=schema).with_id(
        EXAMPLE_VALIDATOR_ID
    )
    model_resolver = Resolver(
        strategy_class=LatestBlessedModelStrategy,
        model=Channel(type=standard_artifacts.Model),
        model_blessing=Channel(type=standard_artifacts.ModelBlessing),
    ).with_id(MODEL_RESOLVER_ID)
    latest_blessed_model = model_resolver.outputs["model"]
    # The drift baseline before any model is blessed: the statistics of the previous run's data.
    # ExampleGen waits for it, so it resolves before this run's StatisticsGen writes any.
    statistics_resolver = Resolver(
        strategy_class=LatestArtifactStrategy, statistics=Channel(type=standard_artifacts.ExampleStatistics)
    ).with_id(STATISTICS_RESOLVER_ID)
    example_gen.add_upstream_node(statistics_resolver)
    validation_gate = with_executor(
        ValidationGate(
            anomalies=example_validator.outputs["anomalies"],
            schema=schema,
            fail_on=config.validation.fail_on,
            statistics=statistics,
            examples=examples,
            task=training_task.model_dump_json(),
            min_examples=config.validation.min_examples,
            baseline_model=latest_blessed_model,
            baseline_statistics=statistics_resolver.outputs["statistics"],
            drift=json.dumps(
                {
                    "thresholds": load_drift_thresholds(config).model_dump(mode="json"),
                    "log_dir": os.path.join(config.pipeline.root, DRIFT_LOG_DIR),
                    "serving_statistics": config.validation.serving_statistics_path,
                },
                sort_keys=True,
            ),
        )
    ).with_id(VALIDATION_GATE_ID)
    # Transform and the Trainer wait for the gate's verdict (a failed gate stops them) but read
    # SchemaGen's schema: the gate re-runs when the latest blessed model (its drift baseline)
    # changes, and its outputs as their inputs would then re-run them on unchanged data.
    transform = _transform(config, examples, schema, train_splits, task_config, faster).with_id(TRANSFORM_ID)
    transform.add_upstream_node(validation_gate)
    transform_graph = transform.outputs["transform_graph"]

    training = config.trainer.model_copy(
        update={"checkpoint_root": config.trainer.checkpoint_root or os.path.join(config.pipeline.root, "checkpoints")}
    )
    launcher_config = {LAUNCHER_KEY: config.launcher.model_dump(mode="json")}
    tuner = None
    if config.tuner.enabled:
        # Only what changes the search is in its cache key: a Trainer-only setting does not re-run it.
        tuner_config = {
            SETTINGS_KEY: training.batching().model_dump(mode="json"),
            tuning.TUNING_KEY: config.tuner.custom_config(),
            **task_config,
            CODE_VERSION_KEY: _code_version(tuning.tuner_fn, config),
        }
        if config.tuner.num_workers > 1:
            tuner_config.update({NUM_WORKERS_KEY: config.tuner.num_workers, **launcher_config})
        tuner = with_executor(
            tfx_components.Tuner(
                tuner_fn=qualified_name(tuning.tuner_fn),
                examples=examples,
                transform_graph=transform_graph,
                train_args=trainer_pb2.TrainArgs(num_steps=config.tuner.steps_per_trial, splits=train_splits),
                eval_args=eval_args,
                custom_config=tuner_config,
            ),
            DistributedTunerExecutor,
        ).with_id(TUNER_ID)
    training_config = {
        SETTINGS_KEY: training.custom_config(),
        **task_config,
        CODE_VERSION_KEY: _code_version(task.run_fn, config),
    }
    if training.warm_start:
        # Not an input: as one, every blessed run would change the Trainer's cache key and retrain unchanged data.
        training_config[task.WARM_START_FROM_KEY] = config.pusher.serving_root
    # One worker: run_fn in this process. More: the Trainer launches them (same run_fn, same outputs).
    if training.num_workers > 1:
        training_config = {**training_config, NUM_WORKERS_KEY: training.num_workers, **launcher_config}
    trainer = with_executor(
        DistributedTrainer(
            run_fn=qualified_name(task.run_fn),
            examples=examples,
            transform_graph=transform_graph,
            schema=schema,
            hyperparameters=tuner.outputs["best_hyperparameters"] if tuner else None,
            train_args=trainer_pb2.TrainArgs(num_steps=training.train_steps, splits=train_splits),
            eval_args=eval_args,
            custom_config=training_config,
            statistics=statistics,
        )
    ).with_id(TRAINER_ID)
    trainer.add_upstream_node(validation_gate)
    model = trainer.outputs["model"]

    evaluator = faster(
        tfx_components.Evaluator(
            examples=examples,
            example_splits=[artifacts.EVAL_SPLIT],
            model=model,
            baseline_model=latest_blessed_model,
            schema=schema,
            eval_config=evaluation.eval_config(
                task_spec, config.evaluator.threshold, config.evaluator.max_relative_drop
            ),
        ),
        FastEvaluatorExecutor,
    ).with_id(EVALUATOR_ID)
    pusher = with_executor(
        AtomicPusher(
            model=model,
            model_blessing=evaluator.outputs["blessing"],
            push_destination=pusher_pb2.PushDestination(
                filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=config.pusher.serving_root)
            ),
            examples=examples,
        )
    ).with_id(PUSHER_ID)

    components = [statistics_resolver, example_gen, statistics_gen, schema_gen, example_validator, validation_gate]
    components += [transform]
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


def with_executor(
    component: base_component.BaseComponent, executor_class: type | None = None
) -> base_component.BaseComponent:
    """The component running `executor_class` (default: its own), with that executor's code in its cache key.

    What FileBasedExampleGen's `custom_executor_spec` does, for every
    component: TFX builds the node from `executor_spec`. The spec is a Beam
    one for a Beam executor. TFX keys a component's cache on its executor
    spec, so the hash of the executor's code (common/code_version.py) goes in
    as an extra flag, which the executor ignores: an edit re-runs it.
    """
    executor_class = executor_class or component.executor_spec.executor_class
    is_beam = issubclass(executor_class, base_beam_executor.BaseBeamExecutor)
    spec = (executor_spec.BeamExecutorSpec if is_beam else executor_spec.ExecutorClassSpec)(executor_class)
    spec.add_extra_flags([f"--{CODE_VERSION_FLAG}={code_version(executor_class.__module__)}"])
    component.executor_spec = spec
    return component


def beam_pipeline_args(config: PipelineConfig) -> list[str]:
    """`beam.args`, plus `--sdk_container_image=<the pipeline image>` when they name no dependency flag.

    Given none, TFX packs its own installation into an sdist for every Beam
    component to ship to the workers (and leaves it under the temp folder).
    Every runner this pipeline supports runs its workers from this image (or,
    locally, this venv), which already holds TFX and this code, and a TFX-only
    sdist would lack the latter anyway. The in-process and EXTERNAL-worker
    runners ignore the flag; Dataflow uses it.
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
    """The hash of the code a user function runs: its module and what it imports, plus task.label_fn's."""
    modules = [function.__module__]
    if config.task.label_fn and function is preprocessing.preprocessing_fn:
        modules.append(config.task.label_fn.rpartition(".")[0])
    return code_version(*modules)


def _example_gen(input_config: InputConfig, fast: bool) -> base_component.BaseComponent:
    """ImportExampleGen (TFRecords) or CsvExampleGen; WindowedExampleGen for a window of several spans.

    The newest span is hash-split into train and eval.
    """
    source = example_gen_pb2.Input(
        splits=[example_gen_pb2.Input.Split(name="single_split", pattern=input_config.pattern)]
    )
    output = example_gen_pb2.Output(
        split_config=example_gen_pb2.SplitConfig(
            splits=[
                example_gen_pb2.SplitConfig.Split(name=artifacts.TRAIN_SPLIT, hash_buckets=input_config.train_buckets),
                example_gen_pb2.SplitConfig.Split(name=artifacts.EVAL_SPLIT, hash_buckets=input_config.eval_buckets),
            ]
        )
    )
    csv = input_config.format == "csv"
    if input_config.window_spans > 1:
        executor = WindowedCsvExecutor if csv else (FastImportExecutor if fast else WindowedImportExecutor)
        return with_executor(WindowedExampleGen(input_config.path, source, output, input_config.window_spans), executor)
    stock = tfx_components.CsvExampleGen if csv else tfx_components.ImportExampleGen
    component = stock(input_base=input_config.path, input_config=source, output_config=output)
    return with_executor(component, WindowedCsvExecutor if csv else FastImportExecutor) if fast else component


def _transform(config: PipelineConfig, examples, schema, train_splits, task_config, faster):
    """TFX's Transform (FastTransformExecutor under fast executors); SpanCachedTransform with an analyzer cache.

    Analysis only, no statistics and no transformed copy of the examples: the
    Tuner and the Trainer apply the graph to ExampleGen's examples as they read them.
    """
    arguments = {
        "examples": examples,
        "schema": schema,
        "preprocessing_fn": qualified_name(preprocessing.preprocessing_fn),
        "custom_config": {**task_config, CODE_VERSION_KEY: _code_version(preprocessing.preprocessing_fn, config)},
        "splits_config": transform_pb2.SplitsConfig(analyze=train_splits),
    }
    if len(train_splits) > 1 and config.input.analyzer_cache:
        cache_dir = os.path.join(config.pipeline.root, "analyzer_cache")
        return with_executor(SpanCachedTransform(**arguments, analyzer_cache_dir=cache_dir))
    stock = tfx_components.Transform(
        **arguments, materialize=False, disable_statistics=True, disable_analyzer_cache=True
    )
    return faster(stock, FastTransformExecutor)
