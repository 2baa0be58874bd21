"""Re-runs are never stale: an edit to trainer code re-runs the components that run it, and nothing else.

The pipeline hashes the code each component runs (common/code_version.py),
as imported. The test copies trainer/ to a temporary folder, runs each
pipeline in its own process with that copy first on PYTHONPATH, and edits the
copy, never the repo. Which components ran comes from each run's JSON summary.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from pipelines import pipeline as pipeline_lib
from tests.conftest import REPO_ROOT, build_config, write_input

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1500)]

RESOLVERS = {pipeline_lib.MODEL_RESOLVER_ID, pipeline_lib.STATISTICS_RESOLVER_ID}
SMALL = (
    "tuner.max_trials=1",
    "tuner.steps_per_trial=30",
    "trainer.train_steps=60",
    "evaluator.threshold=0.5",
    "evaluator.max_relative_drop=1.0",
)


def test_code_edits_re_run_exactly_the_components_whose_code_changed(sample_rows, tmp_path):
    code = tmp_path / "code"
    shutil.copytree(REPO_ROOT / "trainer", code / "trainer", ignore=shutil.ignore_patterns("__pycache__"))
    write_input(tmp_path / "in", sample_rows[:1500], formats=("tfrecord",))
    config = build_config(tmp_path / "in", tmp_path / "out", *SMALL)
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    logs = tmp_path / "out" / "logs"

    def run() -> set[str]:
        """Runs the pipeline on the copy of trainer/; returns the components that executed (not cached)."""
        before = set(logs.glob("*.summary.json"))
        env = {**os.environ, "PYTHONPATH": str(code)}
        command = [sys.executable, "-m", "pipelines.local_runner", "--config", str(config_file)]
        result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
        (new,) = set(logs.glob("*.summary.json")) - before
        components = json.loads(new.read_text())["components"]
        # A resolver resolves on every run: it has no cache.
        return {c["component_id"] for c in components if c["status"] == "ran"} - RESOLVERS

    everything = {component.id for component in pipeline_lib.create_pipeline(config).components}
    assert run() == everything - RESOLVERS
    # The second run checks drift and evaluates once more, the first model now the baseline of both;
    # the Pusher sees the identical model and pushes nothing.
    assert run() == {pipeline_lib.VALIDATION_GATE_ID, pipeline_lib.EVALUATOR_ID, pipeline_lib.PUSHER_ID}
    assert run() == set(), "an unchanged re-run is fully cached"

    model_file = code / "trainer" / "model.py"
    model_file.write_text(model_file.read_text() + "\n# an edit: the model code changed\n")
    assert run() == {
        pipeline_lib.TUNER_ID,
        pipeline_lib.TRAINER_ID,
        pipeline_lib.EVALUATOR_ID,
        pipeline_lib.PUSHER_ID,
    }, "Transform does not import trainer/model.py: it stays cached"
