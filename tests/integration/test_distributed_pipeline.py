"""The whole pipeline with a 2-worker DistributedTrainer and 2 parallel tuners."""

from __future__ import annotations

import pathlib

import pytest

from components.pusher import versions
from pipelines import local_runner
from tests.conftest import build_config, node_executions, write_input

pytestmark = [pytest.mark.integration, pytest.mark.distributed, pytest.mark.timeout(1200)]


def test_pipeline_with_distributed_training_and_tuning_pushes_a_model(sample_rows, tmp_path):
    write_input(tmp_path / "input", sample_rows[:4000], formats=("tfrecord",))
    config = build_config(
        tmp_path / "input",
        tmp_path / "out",
        "trainer.num_workers=2",
        "trainer.train_steps=200",
        "tuner.num_workers=2",
        "tuner.max_trials=2",
        "tuner.steps_per_trial=60",
        # The mechanism is under test here; quality on 4 000 rows is the distributed tier's business.
        "evaluator.threshold=0.85",
    )
    timings = {timing.component_id: timing for timing in local_runner.run(config)}

    assert not timings["Trainer"].cached and not timings["Tuner"].cached
    executions = node_executions(config)
    assert executions["Tuner"] == ["COMPLETE"] and executions["Trainer"] == ["COMPLETE"]
    assert executions["Evaluator"] == ["COMPLETE"] and executions["Pusher"] == ["COMPLETE"]
    root = pathlib.Path(config.pipeline.root)
    (blessing,) = (root / "Evaluator" / "blessing").iterdir()
    assert (blessing / "BLESSED").exists(), "the 2-worker model is blessed"
    assert len(versions.numbered_versions(config.pusher.serving_root)) == 1
