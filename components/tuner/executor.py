"""DistributedTunerExecutor: TFX's Tuner executor, keeping the search's logs and running N parallel tuners.

An executor swap for the stock Tuner (always on: it adds behaviour, not speed).
- The search runs inside the `tuner_results` artifact, not in a temporary
  folder the stock executor deletes, so KerasTuner's per-trial TensorBoard runs
  (with HParams) survive under the pipeline root.
- With custom_config `num_workers` > 1, it starts KerasTuner's own distributed
  protocol through the launcher: a chief oracle plus that many tuners sharing
  the search folder, locally or as pods. The results are then reloaded from
  that folder, and the same best-hyperparameters artifact is written.
"""

from __future__ import annotations

import os
from typing import Any

from absl import logging
from tfx.components.trainer import fn_args_utils
from tfx.components.tuner import executor as tuner_executor
from tfx.components.util import udf_utils
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import json_utils

from common import tfx_compat
from launcher import launch
from launcher.launch import pop_launch_config
from launcher.spec import worker_spec

__all__ = ["SEARCH_DIR", "DistributedTunerExecutor", "search_dir"]

# Inside the tuner_results artifact; `make tensorboard` finds the trials there.
SEARCH_DIR = "search"


def search_dir(output_dict: dict[str, list[Any]]) -> str:
    """The persistent working folder of the search, inside the tuner_results artifact."""
    results = artifact_utils.get_single_uri(output_dict[standard_component_specs.TUNER_RESULTS_KEY])
    return os.path.join(results, SEARCH_DIR)


class DistributedTunerExecutor(tuner_executor.Executor):
    """Searches (sequentially or on parallel tuners) in a persistent folder; writes the best hyperparameters."""

    def Do(self, input_dict: dict[str, list[Any]], output_dict: dict[str, list[Any]], exec_properties: dict) -> None:
        exec_properties = dict(exec_properties)
        custom_config = json_utils.loads(exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY) or "null")
        custom_config = dict(custom_config or {})
        num_workers, settings = pop_launch_config(custom_config)
        exec_properties[standard_component_specs.CUSTOM_CONFIG_KEY] = json_utils.dumps(custom_config)
        working_dir = search_dir(output_dict)
        if num_workers > 1:
            tuner = self._parallel_search(input_dict, exec_properties, working_dir, num_workers, settings)
        else:
            # KerasTuner prints its summaries to stdout; the best trial goes to the log instead.
            tuner = tuner_executor.search(input_dict, exec_properties, working_dir, print_tuning_summary=False)
        best = tuner.oracle.get_best_trials(1)[0]
        logging.info("Best trial %s: score %s with %s", best.trial_id, best.score, best.hyperparameters.values)
        tuner_executor.write_best_hyperparameters(tuner, output_dict)

    def _parallel_search(self, input_dict, exec_properties, working_dir, num_workers, settings):
        fn_args = fn_args_utils.get_common_fn_args(input_dict, exec_properties, working_dir)
        tuner_fn = exec_properties[standard_component_specs.TUNER_FN_KEY]
        spec = worker_spec("tune", tuner_fn, fn_args, input_dict[standard_component_specs.EXAMPLES_KEY])
        launch(spec, num_workers, settings, purpose="tune", run_id=tfx_compat.pipeline_run_id(self))
        # This process has no distribution variables: the tuner reloads the
        # chief oracle's saved state from the shared folder.
        return udf_utils.get_fn(exec_properties, standard_component_specs.TUNER_FN_KEY)(fn_args).tuner
