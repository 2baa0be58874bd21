"""Executor of DistributedTrainer: TFX's Trainer executor, on one worker here or on N launched workers.

With one worker, run_fn runs in this process, as in the stock Trainer. With
N, the FnArgs are built exactly as the stock executor builds them and handed
to every worker, which calls the same run_fn under MultiWorkerMirroredStrategy
(TF_CONFIG names the cluster). Only the chief exports, to the Model
artifact's folder, so Evaluator and Pusher work unchanged. Either way, the
train split's statistics are copied into the model artifact
(`training_statistics/FeatureStats.pb`): the model carries a description of
the data it learned from.
"""

from __future__ import annotations

import os
from typing import Any

from tfx.components.statistics_gen import stats_artifact_utils
from tfx.components.trainer import executor as trainer_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, json_utils

from common import records, tfx_compat
from components import artifacts
from launcher import launch
from launcher.launch import pop_launch_config
from launcher.spec import worker_spec
from trainer import features, label_profile

__all__ = ["STATISTICS_KEY", "DistributedTrainerExecutor"]

STATISTICS_KEY = "statistics"


class DistributedTrainerExecutor(trainer_executor.GenericExecutor):
    """Runs run_fn on custom_config's `num_workers` workers through its `launcher` settings."""

    def Do(self, input_dict: dict[str, list[Any]], output_dict: dict[str, list[Any]], exec_properties: dict) -> None:
        custom_config = json_utils.loads(exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY) or "null")
        num_workers, settings = pop_launch_config(dict(custom_config or {}))
        if num_workers > 1:
            self._launch(input_dict, output_dict, exec_properties, num_workers, settings)
        else:
            super().Do(input_dict, output_dict, exec_properties)
        _keep_training_statistics(input_dict, output_dict)
        _keep_label_profile(input_dict, output_dict, custom_config or {})

    def _launch(self, input_dict, output_dict, exec_properties, num_workers, settings) -> None:
        fn_args = tfx_compat.trainer_fn_args(self, input_dict, output_dict, exec_properties)
        custom_config = dict(fn_args.custom_config or {})
        pop_launch_config(custom_config)
        fn_args.custom_config = custom_config  # run_fn sees what the stock Trainer would give it
        run_fn = exec_properties.get(standard_component_specs.RUN_FN_KEY)
        if not run_fn:
            raise ValueError("DistributedTrainer needs run_fn as a dotted path, e.g. 'trainer.task.run_fn'")
        spec = worker_spec("train", run_fn, fn_args, input_dict[standard_component_specs.EXAMPLES_KEY])
        launch(spec, num_workers, settings, purpose="train", run_id=tfx_compat.pipeline_run_id(self))
        saved_model = os.path.join(fn_args.serving_model_dir, "saved_model.pb")
        if not fileio.exists(saved_model):
            raise RuntimeError(f"the workers finished but the chief exported no model to {fn_args.serving_model_dir}")


def _keep_training_statistics(input_dict: dict[str, list[Any]], output_dict: dict[str, list[Any]]) -> None:
    if not input_dict.get(STATISTICS_KEY):
        return
    statistics = artifact_utils.get_single_instance(input_dict[STATISTICS_KEY])
    source = os.path.join(
        artifact_utils.get_split_uri([statistics], artifacts.TRAIN_SPLIT), stats_artifact_utils.BINARY_PB_BASENAME
    )
    target = artifacts.training_statistics_path(
        artifact_utils.get_single_uri(output_dict[standard_component_specs.MODEL_KEY])
    )
    fileio.makedirs(os.path.dirname(target))
    fileio.copy(source, target, overwrite=True)


def _keep_label_profile(input_dict: dict[str, list[Any]], output_dict: dict[str, list[Any]], custom_config) -> None:
    """The label over the newest span's train split, beside the statistics: the label's drift baseline."""
    if features.TASK_KEY not in custom_config or not input_dict.get(standard_component_specs.SCHEMA_KEY):
        return
    task = features.TaskSpec.model_validate(custom_config[features.TASK_KEY])
    schema_file = io_utils.get_only_uri_in_dir(
        artifact_utils.get_single_uri(input_dict[standard_component_specs.SCHEMA_KEY])
    )
    examples = input_dict[standard_component_specs.EXAMPLES_KEY][0]
    files = records.list_files(artifacts.split_files_pattern(examples, artifacts.TRAIN_SPLIT))
    profile = label_profile.profile_files(files, features.load_schema(schema_file), task)
    target = artifacts.training_label_profile_path(
        artifact_utils.get_single_uri(output_dict[standard_component_specs.MODEL_KEY])
    )
    fileio.makedirs(os.path.dirname(target))
    with fileio.open(target, "w") as stream:
        stream.write(profile.to_json())
