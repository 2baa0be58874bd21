"""Tuner executor that keeps the search: trials and TensorBoard logs survive the execution.

The stock executor searches in a temporary folder deleted afterwards, so the
per-trial TensorBoard runs (with HParams) KerasTuner writes are lost. This one
searches inside the `tuner_results` artifact instead.
"""

from __future__ import annotations

import os
from typing import Any

from absl import logging
from tfx.components.tuner import executor as tuner_executor
from tfx.types import artifact_utils, standard_component_specs

__all__ = ["SEARCH_DIR", "Executor", "search_dir"]

# Inside the tuner_results artifact; `make tensorboard` finds the trials there.
SEARCH_DIR = "search"


def search_dir(output_dict: dict[str, list[Any]]) -> str:
    """The persistent working folder of the search, inside the tuner_results artifact."""
    results = artifact_utils.get_single_uri(output_dict[standard_component_specs.TUNER_RESULTS_KEY])
    return os.path.join(results, SEARCH_DIR)


class Executor(tuner_executor.Executor):
    """Runs the stock search in a persistent folder, then writes the best hyperparameters."""

    def Do(self, input_dict: dict[str, list[Any]], output_dict: dict[str, list[Any]], exec_properties: dict) -> None:
        # KerasTuner prints its summaries to stdout; the best trial goes to the log instead.
        tuner = tuner_executor.search(input_dict, exec_properties, search_dir(output_dict), print_tuning_summary=False)
        best = tuner.oracle.get_best_trials(1)[0]
        logging.info("Best trial %s: score %s with %s", best.trial_id, best.score, best.hyperparameters.values)
        tuner_executor.write_best_hyperparameters(tuner, output_dict)
