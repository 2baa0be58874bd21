"""DistributedTrainer: TFX's Trainer, on one worker in the pipeline's process or on N workers it launches.

Same outputs as the stock Trainer (Model, ModelRun), so Evaluator and Pusher
consume it unchanged, plus an optional `statistics` input: the model artifact
keeps the statistics of the data it was trained on, the baseline the
validation gate compares new data with once the model is blessed.
"""

from __future__ import annotations

from typing import Any

from tfx.components.trainer import component as trainer_component
from tfx.dsl.components.base import base_component, executor_spec
from tfx.proto import trainer_pb2
from tfx.types import channel, component_spec, standard_artifacts, standard_component_specs
from tfx.utils import json_utils

from components.distributed_trainer.executor import STATISTICS_KEY, DistributedTrainerExecutor

__all__ = ["DistributedTrainer"]


class DistributedTrainerSpec(component_spec.ComponentSpec):
    """TFX's TrainerSpec plus the statistics of the training data."""

    PARAMETERS = standard_component_specs.TrainerSpec.PARAMETERS
    INPUTS = {
        **standard_component_specs.TrainerSpec.INPUTS,
        STATISTICS_KEY: component_spec.ChannelParameter(type=standard_artifacts.ExampleStatistics, optional=True),
    }
    OUTPUTS = standard_component_specs.TrainerSpec.OUTPUTS


class DistributedTrainer(trainer_component.Trainer):
    """Trainer whose run_fn runs on custom_config['num_workers'] workers (1: in this process)."""

    SPEC_CLASS = DistributedTrainerSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(DistributedTrainerExecutor)

    def __init__(
        self,
        run_fn: str,
        examples: channel.BaseChannel,
        transform_graph: channel.BaseChannel,
        schema: channel.BaseChannel,
        train_args: trainer_pb2.TrainArgs,
        eval_args: trainer_pb2.EvalArgs,
        custom_config: dict[str, Any],
        hyperparameters: channel.BaseChannel | None = None,
        base_model: channel.BaseChannel | None = None,
        statistics: channel.BaseChannel | None = None,
    ):
        """Builds the component.

        Args:
          run_fn: Dotted path of the training function.
          examples: Transformed examples.
          transform_graph: Transform's graph.
          schema: The validated schema.
          train_args: Steps and the splits to train on.
          eval_args: The split to evaluate on.
          custom_config: Passed to run_fn; `num_workers` and `launcher` are
            read (and removed) by the executor.
          hyperparameters: The Tuner's best hyperparameters.
          base_model: A model to start from (warm start).
          statistics: StatisticsGen's output; its train split is kept with the model.
        """
        spec = DistributedTrainerSpec(
            examples=examples,
            transform_graph=transform_graph,
            schema=schema,
            base_model=base_model,
            hyperparameters=hyperparameters,
            statistics=statistics,
            train_args=train_args,
            eval_args=eval_args,
            run_fn=run_fn,
            custom_config=json_utils.dumps(custom_config),
            model=channel.Channel(type=standard_artifacts.Model),
            model_run=channel.Channel(type=standard_artifacts.ModelRun),
        )
        base_component.BaseComponent.__init__(self, spec=spec)
