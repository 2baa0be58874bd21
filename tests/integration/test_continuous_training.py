"""Continuous training across four spans of the sample, through the retraining loop command.

Span 1 -> version 1 pushed. Span 2 -> trained on the window (spans 2 and 1),
warm-started from version 1, version 2 pushed. Span 3, where every trip is
paid by card (valid for the schema, a strong shift in payment_type) -> stopped
by the drift gate naming the feature, version 2 still served. Span 4 ->
trained and pushed. `status` shows that history, and TensorBoard has the drift
of each feature per span.
"""

from __future__ import annotations

import json
import pathlib

import pytest
import yaml
from tensorboard.backend.event_processing import event_accumulator

from components.pusher import versions
from components.validation_gate import drift
from pipelines import config as config_lib
from pipelines import pipeline as pipeline_lib
from pipelines import retrain, sample_data, status
from tests.conftest import SCHEMA_PATH, build_config, node_executions
from tests.integration.conftest import summaries

pytestmark = [pytest.mark.integration, pytest.mark.timeout(2400)]

SETTINGS = (
    "input.window_spans=2",
    "input.analyzer_cache=true",  # off by default; exercised here across overlapping windows
    "tuner.enabled=false",
    "trainer.train_steps=200",
    "trainer.warm_start=true",
    "evaluator.threshold=0.85",
    "evaluator.max_relative_drop=0.05",
)


def _drift_scalars(config, feature: str, measure: str) -> dict[int, float]:
    import tensorflow as tf

    accumulator = event_accumulator.EventAccumulator(
        str(pathlib.Path(config.pipeline.root) / pipeline_lib.DRIFT_LOG_DIR), size_guidance={"tensors": 0}
    )
    accumulator.Reload()
    return {
        event.step: float(tf.make_ndarray(event.tensor_proto))
        for event in accumulator.Tensors(f"drift/{feature}/{measure}")
    }


def test_the_retraining_loop_over_four_spans(sample_rows, tmp_path, capsys):
    spans = sample_data.split_into_spans(sample_rows, 4)
    spans[2] = [{**row, "payment_type": "Credit Card"} for row in spans[2]]
    config = build_config(tmp_path / "in", tmp_path / "out", *SETTINGS, check_local_paths=False)
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    types = sample_data.column_types(str(SCHEMA_PATH))
    served: list[str] = []

    def land_and_retrain(span: int) -> int:
        sample_data.write_spans([spans[span - 1]], config.input, types, first_span=span)
        code = retrain.main(["--config", str(config_file), "--once"])
        served.append(versions.numbered_versions(config.pusher.serving_root)[-1])
        return code

    assert land_and_retrain(1) == 0
    first = summaries(config)[-1]
    assert first["outcome"] == "pushed" and first["spans"] == [1]

    assert land_and_retrain(2) == 0
    second = summaries(config)[-1]
    assert second["outcome"] == "pushed" and second["spans"] == [2, 1], "trained on the window"
    assert served[1] != served[0]
    model_run = sorted(pathlib.Path(config.pipeline.root, "Trainer", "model_run").iterdir(), key=lambda p: int(p.name))[
        -1
    ]
    report = json.loads((model_run / "training_report.json").read_text())
    assert report["warm_start"].startswith("warm start from the served model"), report["warm_start"]
    # Transform's analyzer cache holds what it analysed (span 2's train split, the whole of span 1)
    # keyed by span and partition (span-<n>-<fingerprint>-<part>-<partition>), not by this run's paths.
    cache = sorted(entry.name for entry in pathlib.Path(config.pipeline.root, "analyzer_cache").iterdir())
    assert [(name.split("-")[1], name.split("-")[3]) for name in cache if name.startswith("span-")] == [
        ("1", "eval"),
        ("1", "train"),
        ("2", "train"),
    ], cache

    capsys.readouterr()
    assert land_and_retrain(3) == 1
    third = summaries(config)[-1]
    assert third["outcome"] == "stopped" and third["stopped_by"] == pipeline_lib.VALIDATION_GATE_ID
    assert "payment_type (drift: L-infinity distance)" in third["reason"]
    assert served[2] == served[1] and f"serving stays at version {served[1]}" in capsys.readouterr().out
    assert node_executions(config)[pipeline_lib.TRAINER_ID] == ["COMPLETE", "COMPLETE"]

    assert land_and_retrain(4) == 0
    fourth = summaries(config)[-1]
    assert fourth["outcome"] == "pushed" and fourth["spans"] == [4, 3] and served[3] not in served[:3]
    assert retrain.main(["--config", str(config_file), "--once"]) == 0 and len(summaries(config)) == 4, "nothing new"

    lines = status._format(config_lib.load_config(config_file), status.history(config), runs=5)
    printed = "\n".join(lines)
    for version, run_spans in ((served[3], "4, 3"), (served[1], "2, 1"), (served[0], "1")):
        assert f"{version}  pushed" in printed and f"spans {run_spans}; auc 0." in printed, printed
    assert lines[1].startswith(f"* {served[3]}")
    assert "(spans 3, 2): stopped at ValidationGate: Data validation failed on payment_type (drift" in printed

    payment = _drift_scalars(config, "payment_type", drift.STRING_DISTANCE)
    assert set(payment) == {2, 3, 4}
    assert payment[3] > 0.3 > max(payment[2], payment[4]), payment
