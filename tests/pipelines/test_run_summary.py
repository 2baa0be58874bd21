"""The run summary's wording for each outcome, and its JSON file."""

from __future__ import annotations

import json

from pipelines import run_summary
from pipelines.run_summary import ComponentOutcome, MetricVerdict, RunSummary

COMPONENTS = (
    ComponentOutcome("ExampleGen", "cached", 0.1),
    ComponentOutcome("Trainer", "ran", 15.0),
    ComponentOutcome("Evaluator", "ran", 13.0),
)


def _summary(**values) -> RunSummary:
    base = {
        "pipeline": "p",
        "started": "2026-11-21T03:00:00",
        "seconds": 40.0,
        "components": COMPONENTS,
        "spans": (3, 4),
        "serving_root": "/serving",
        "serving_version": "17",
    }
    return RunSummary(**{**base, **values})


def test_a_pushed_run_names_the_version_and_what_ran():
    metric = MetricVerdict("auc", 0.9512, 0.935, True, baseline_value=0.95, blessed=True)
    lines = _summary(outcome=run_summary.PUSHED, metric=metric, pushed_version="18").lines()
    assert lines[1:] == [
        "  data: span(s) 3, 4",
        "  ran: Trainer, Evaluator",
        "  from cache: ExampleGen",
        "  model: auc 0.9512 (threshold >= 0.935; latest blessed model 0.9500, change +0.0012)",
        "  pushed version 18 to /serving",
    ]


def test_a_run_that_is_not_blessed_names_the_metric_and_keeps_serving():
    metric = MetricVerdict("auc", 0.91, 0.935, True, failures=("auc bound",))
    summary = _summary(outcome=run_summary.NOT_BLESSED, metric=metric, reason=run_summary._not_blessed_reason(metric))
    assert summary.verdict() == "not blessed: auc 0.9100 below the threshold 0.935; serving stays at version 17"


def test_a_regression_above_its_ceiling_and_a_drop_against_the_baseline_are_both_named():
    metric = MetricVerdict(
        "rmse",
        60.0,
        55.0,
        False,
        baseline_value=50.0,
        failures=("rmse bound", "rmse change against the latest blessed model"),
    )
    reason = run_summary._not_blessed_reason(metric)
    assert reason == (
        "rmse 60.0000 above the threshold 55; rmse 60.0000 against 50.0000 for the latest blessed model "
        "(more than evaluator.max_relative_drop worse)"
    )


def test_a_stopped_run_names_the_component_and_the_first_line_of_the_error():
    summary = _summary(
        outcome=run_summary.STOPPED, stopped_by="ValidationGate", reason="Data validation failed: 1 anomaly"
    )
    assert summary.verdict() == (
        "stopped at ValidationGate: Data validation failed: 1 anomaly; serving stays at version 17"
    )
    assert _summary(
        outcome=run_summary.FAILED, stopped_by="Trainer", reason="boom", serving_version=None
    ).verdict() == ("failed at Trainer: boom; nothing is served yet")


def test_the_json_file_is_the_summary(tmp_path):
    summary = _summary(outcome=run_summary.IDENTICAL, pushed_version="17")
    path = tmp_path / "logs" / "run-1.summary.json"
    run_summary.write(summary, str(path))
    saved = json.loads(path.read_text())
    assert saved["outcome"] == "identical" and saved["spans"] == [3, 4]
    assert saved["components"][1] == {"component_id": "Trainer", "status": "ran", "seconds": 15.0}
    assert [p.name for p in path.parent.iterdir()] == ["run-1.summary.json"], "no temporary file is left"
