"""Executor of DistributedTrainer: TFX's Trainer executor, with run_fn started on N workers.

The FnArgs are built exactly as the stock executor builds them and handed to
every worker, which calls the same run_fn under MultiWorkerMirroredStrategy
(TF_CONFIG names the cluster). Only the chief exports, to the Model artifact's
folder, so Evaluator and Pusher work unchanged.
"""

from __future__ import annotations

import os
from typing import Any

from tfx.components.trainer import executor as trainer_executor
from tfx.dsl.io import fileio
from tfx.types import standard_component_specs
from tfx.utils import json_utils

from components.launcher import WorkerSpec, launch
from components.launcher.launch import pop_launch_config
from components.launcher.spec import fn_args_to_dict

__all__ = ["Executor"]


class Executor(trainer_executor.GenericExecutor):
    """Runs run_fn on custom_config's `num_workers` workers through its `launcher` settings."""

    def Do(self, input_dict: dict[str, list[Any]], output_dict: dict[str, list[Any]], exec_properties: dict) -> None:
        fn_args = self._GetFnArgs(input_dict, output_dict, exec_properties)
        custom_config = dict(fn_args.custom_config or {})
        num_workers, settings = pop_launch_config(custom_config)
        fn_args.custom_config = custom_config  # run_fn sees what the stock Trainer would give it
        run_fn = exec_properties.get(standard_component_specs.RUN_FN_KEY)
        if not run_fn:
            raise ValueError("DistributedTrainer needs run_fn as a dotted path, e.g. 'trainer.task.run_fn'")
        spec = WorkerSpec(
            kind="train", function=run_fn, fn_args=json_utils.loads(json_utils.dumps(fn_args_to_dict(fn_args)))
        )
        launch(spec, num_workers, settings, purpose="train")
        saved_model = os.path.join(fn_args.serving_model_dir, "saved_model.pb")
        if not fileio.exists(saved_model):
            raise RuntimeError(f"the workers finished but the chief exported no model to {fn_args.serving_model_dir}")
