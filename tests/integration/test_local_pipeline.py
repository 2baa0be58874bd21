"""The real pipeline on the sample data, through the validation gate, with LocalDagRunner and the TFX CLI."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest
import tensorflow as tf
import yaml

from components.statistics_gen import DataTypeError
from components.validation_gate import component_keys as gate_keys
from pipelines import local_runner, sample_data
from pipelines import pipeline as pipeline_lib
from tests.conftest import (
    LOCAL_CONFIG,
    REPO_ROOT,
    SCHEMA_PATH,
    build_config,
    config_overrides,
    node_executions,
    taxi_task,
    write_input,
)
from trainer import expressions

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

ALL_COMPONENTS = [
    pipeline_lib.EXAMPLE_GEN_ID,
    pipeline_lib.SCHEMA_GEN_ID,
    pipeline_lib.STATISTICS_GEN_ID,
    pipeline_lib.EXAMPLE_VALIDATOR_ID,
    pipeline_lib.VALIDATION_GATE_ID,
    pipeline_lib.TRANSFORM_ID,
    pipeline_lib.TUNER_ID,
    pipeline_lib.TRAINER_ID,
    pipeline_lib.MODEL_RESOLVER_ID,
    pipeline_lib.EVALUATOR_ID,
    pipeline_lib.PUSHER_ID,
]


@pytest.fixture(scope="module")
def sample_input(tmp_path_factory, sample_rows) -> pathlib.Path:
    input_dir = tmp_path_factory.mktemp("sample_input")
    write_input(input_dir, sample_rows)
    return input_dir


@pytest.fixture(scope="module")
def good_run(sample_input, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("good_run")
    config = build_config(sample_input, output_dir)
    timings = local_runner.run(config)
    return config, timings, output_dir


# For runs that only need to get through the pipeline, not to tune or train well.
FAST = ("tuner.enabled=false", "trainer.train_steps=40", "evaluator.threshold=0.0")


def _big_tipper(tips: float, fare: float) -> bool:
    """The sample's label, computed by the config's own expression (NumPy backend)."""
    expression = expressions.parse(taxi_task().label.expression)
    return bool(expression.evaluate({"tips": tips, "fare": fare}, expressions.NUMPY_OPS))


def _only_artifact_dir(root: pathlib.Path, component: str, output: str) -> pathlib.Path:
    (directory,) = (root / component / output).iterdir()
    return directory


def _split_examples(split_dir: pathlib.Path) -> list[tf.train.Example]:
    files = [str(path) for path in split_dir.glob("*.gz")]
    return [
        tf.train.Example.FromString(record)
        for record in tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator()
    ]


def _downstream_of(config, component_id: str) -> set[str]:
    pipeline = local_runner.build_pipeline(config)
    (start,) = [node for node in pipeline.components if node.id == component_id]
    found, frontier = set(), list(start.downstream_nodes)
    while frontier:
        node = frontier.pop()
        if node.id not in found:
            found.add(node.id)
            frontier.extend(node.downstream_nodes)
    return found


def test_run_passes_the_gate_and_leaves_its_outputs(good_run, sample_rows):
    config, timings, _ = good_run
    assert sorted(t.component_id for t in timings) == sorted(ALL_COMPONENTS)
    assert not any(t.cached for t in timings)
    executions = node_executions(config)
    assert all(executions[c] == ["COMPLETE"] for c in ALL_COMPONENTS if c != pipeline_lib.MODEL_RESOLVER_ID)

    root = pathlib.Path(config.pipeline.root)
    examples = _only_artifact_dir(root, "ExampleGen", "examples")
    num_train, num_eval = len(_split_examples(examples / "Split-train")), len(_split_examples(examples / "Split-eval"))
    assert num_train + num_eval == len(sample_rows)
    assert 0.6 < num_train / len(sample_rows) < 0.73  # 2:1 hash buckets

    statistics = _only_artifact_dir(root, "StatisticsGen", "statistics")
    assert (statistics / "Split-train" / "FeatureStats.pb").stat().st_size > 0
    assert (_only_artifact_dir(root, "SchemaGen", "schema") / "schema.pbtxt").read_text() == SCHEMA_PATH.read_text()
    anomalies = _only_artifact_dir(root, "ExampleValidator", "anomalies")
    assert {path.parent.name for path in anomalies.glob("Split-*/SchemaDiff.pb")} == {"Split-train", "Split-eval"}

    verdict_dir = _only_artifact_dir(root, "ValidationGate", gate_keys.VERDICT_KEY)
    verdict = json.loads((verdict_dir / gate_keys.VERDICT_FILE).read_text())
    assert verdict == {"passed": True, "fail_on": "error", "findings": []}
    assert (verdict_dir / gate_keys.REPORT_FILE).read_text().strip() == "Data validation passed: no anomalies."
    validated = _only_artifact_dir(root, "ValidationGate", gate_keys.VALIDATED_SCHEMA_KEY)
    assert (validated / gate_keys.SCHEMA_FILE).read_text() == SCHEMA_PATH.read_text()


def _eval_result(root: pathlib.Path, execution: int = -1):
    import tensorflow_model_analysis as tfma

    evaluation = sorted((root / "Evaluator" / "evaluation").iterdir(), key=lambda p: int(p.name))[execution]
    overall = dict(tfma.load_eval_result(str(evaluation)).slicing_metrics)[()][""][""]
    return {name: value["doubleValue"] for name, value in overall.items()}, tfma.load_validation_result(str(evaluation))


def test_run_trains_blesses_and_pushes_a_model_that_serves_raw_examples(good_run, sample_rows):
    config, _, _ = good_run
    root = pathlib.Path(config.pipeline.root)
    metrics, validation = _eval_result(root)
    assert metrics["auc"] >= 0.94, metrics
    assert validation.validation_ok
    assert (_only_artifact_dir(root, "Evaluator", "blessing") / "BLESSED").exists()

    (version,) = pathlib.Path(config.pusher.serving_root).iterdir()
    assert version.name.isdigit()
    loaded = tf.saved_model.load(str(version))
    rows = sample_rows[:50]
    requests = [
        sample_data.to_example({k: v for k, v in row.items() if k != "tips"}, _types()).SerializeToString()
        for row in rows
    ]
    probabilities = loaded.signatures["serving_default"](examples=tf.constant(requests))["probabilities"].numpy()
    assert probabilities.shape == (50,) and ((probabilities >= 0) & (probabilities <= 1)).all()
    labels = [_big_tipper(float(row["tips"]), float(row["fare"])) for row in rows]
    predicted = [p > 0.5 for p in probabilities]
    assert sum(p == y for p, y in zip(predicted, labels, strict=True)) >= 40, (
        "the pushed model predicts like the evaluated one"
    )


def _rank_auc(scores: list[float], labels: list[bool]) -> float:
    """P(a positive scores above a negative), ties counting half: the exact ROC AUC."""
    counts: dict[float, list[int]] = {}
    for score, label in zip(scores, labels, strict=True):
        counts.setdefault(score, [0, 0])[int(label)] += 1
    above, negatives_below = 0.0, 0
    for score in sorted(counts):
        negatives, positives = counts[score]
        above += positives * (negatives_below + 0.5 * negatives)
        negatives_below += negatives
    num_positives = sum(labels)
    return above / (num_positives * (len(labels) - num_positives))


def test_the_auc_floor_refuses_a_model_no_better_than_the_one_feature_rule(good_run):
    config, _, _ = good_run
    root = pathlib.Path(config.pipeline.root)
    scores, labels = [], []
    for example in _split_examples(_only_artifact_dir(root, "ExampleGen", "examples") / "Split-eval"):
        feature = example.features.feature
        scores.append(float(feature["payment_type"].bytes_list.value == [b"Credit Card"]))
        labels.append(_big_tipper(feature["tips"].float_list.value[0], feature["fare"].float_list.value[0]))
    rule_auc = _rank_auc(scores, labels)
    model_auc = _eval_result(root)[0]["auc"]
    assert 0.9 < rule_auc < config.evaluator.threshold <= model_auc, (rule_auc, model_auc)


def test_run_records_tensorboard_logs_for_trainer_and_tuner(good_run):
    config, _, _ = good_run
    root = pathlib.Path(config.pipeline.root)
    model_run = _only_artifact_dir(root, "Trainer", "model_run")
    assert list((model_run / "train").glob("events.out.tfevents.*"))
    assert list((model_run / "eval").glob("events.out.tfevents.*"))
    report = json.loads((model_run / "training_report.json").read_text())
    assert report["training"]["final_step"] == config.trainer.train_steps
    assert set(report["eval_metrics"]["metrics"]) == {"auc", "accuracy"}
    tuner_search = _only_artifact_dir(root, "Tuner", "tuner_results") / "search" / "tensorboard"
    trial_runs = [path for path in tuner_search.iterdir() if path.is_dir()]
    assert len(trial_runs) == config.tuner.max_trials


def test_second_run_on_unchanged_data_is_served_from_cache(good_run):
    config, _, _ = good_run
    serving_root = pathlib.Path(config.pusher.serving_root)
    pushed_before = sorted(serving_root.iterdir())

    timings = local_runner.run(config)

    # Everything that reads data or trains is cached. The resolver resolves on
    # every run; it now finds the first run's model as the latest blessed one,
    # so the Evaluator compares the cached model with itself once, and the
    # Pusher recognises the identical model instead of pushing a duplicate.
    rerun = {t.component_id for t in timings if not t.cached}
    assert rerun <= {pipeline_lib.MODEL_RESOLVER_ID, pipeline_lib.EVALUATOR_ID, pipeline_lib.PUSHER_ID}
    assert node_executions(config)["Trainer"] == ["COMPLETE", "CACHED"]
    assert sorted(serving_root.iterdir()) == pushed_before, "no duplicate version of the same model"


def test_model_below_the_threshold_is_not_blessed_and_the_pushed_model_stays(good_run):
    config, _, output_dir = good_run
    serving_root = pathlib.Path(config.pusher.serving_root)
    before = {path: path.stat().st_mtime_ns for path in serving_root.rglob("*")}
    strict = build_config(pathlib.Path(config.input.path).parent, output_dir, "evaluator.threshold=0.999")

    timings = {t.component_id: t for t in local_runner.run(strict)}

    assert not timings["Evaluator"].cached and timings["Trainer"].cached
    metrics, validation = _eval_result(pathlib.Path(config.pipeline.root))
    assert not validation.validation_ok and metrics["auc"] < 0.999
    blessings = sorted(
        (pathlib.Path(config.pipeline.root) / "Evaluator" / "blessing").iterdir(), key=lambda p: int(p.name)
    )
    assert (blessings[-1] / "NOT_BLESSED").exists()
    assert {path: path.stat().st_mtime_ns for path in serving_root.rglob("*")} == before


def _types():
    return sample_data.column_types(str(SCHEMA_PATH))


def _string_in_numeric_column(rows):
    rows[5]["fare"] = "abc"


def _missing_required_column(rows):
    for row in rows:
        del row["payment_type"]


def _out_of_domain_category(rows):
    for row in rows[:50]:
        row["payment_type"] = "Bitcoin"


@pytest.mark.parametrize(
    ("mutate", "input_format", "expected"),
    [
        (_string_in_numeric_column, "csv", ["fare", "Unexpected data type", "Expected data of type: FLOAT"]),
        (_missing_required_column, "csv", ["payment_type", "Column dropped"]),
        (_out_of_domain_category, "tfrecord", ["payment_type", "Unexpected string values", "Bitcoin"]),
    ],
    ids=["string_in_numeric_column", "missing_required_column", "out_of_domain_category"],
)
def test_bad_data_stops_the_run_at_the_gate(mutate, input_format, expected, sample_rows, tmp_path, capsys):
    rows = [dict(row) for row in sample_rows]
    mutate(rows)
    input_dir = tmp_path / "input"
    if input_format == "csv":
        _write_csv_only(input_dir, rows)
    else:
        write_input(input_dir, rows, formats=("tfrecord",))
    overrides = config_overrides(input_dir, tmp_path / "out", input_format=input_format)

    code = local_runner.main(["--config", str(LOCAL_CONFIG), *[arg for o in overrides for arg in ("--set", o)]])

    captured = capsys.readouterr()
    assert code == 1
    assert "ValidationGate FAILED" in captured.out
    assert "DataValidationError: Data validation failed" in captured.err
    for text in expected:
        assert text in captured.err
    config = build_config(input_dir, tmp_path / "out", input_format=input_format)
    executions = node_executions(config)
    assert executions["ValidationGate"] == ["FAILED"]
    assert "Trainer" not in executions and "Transform" not in executions
    assert not set(executions) & _downstream_of(config, "ValidationGate"), "a component after the gate ran"
    (log_file,) = pathlib.Path(config.pipeline.log_dir).glob("run-*.log")
    assert "Data validation failed" in log_file.read_text(), "the report belongs in the run's log too"


def _write_csv_only(input_dir: pathlib.Path, rows) -> None:
    import csv

    span = input_dir / "csv" / "span-1"
    span.mkdir(parents=True)
    with open(span / "data.csv", "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_mixed_types_in_tfrecords_stop_at_statistics(sample_rows, tmp_path):
    input_dir = tmp_path / "input"
    write_input(input_dir, sample_rows[:3000], formats=("tfrecord",))
    span_file = input_dir / "tfrecord" / "span-1" / "data.tfrecord.gz"
    records = list(tf.data.TFRecordDataset(str(span_file), compression_type="GZIP").as_numpy_iterator())
    bad = tf.train.Example.FromString(records[5])
    bad.features.feature["fare"].ClearField("float_list")
    bad.features.feature["fare"].bytes_list.value.append(b"abc")
    records[5] = bad.SerializeToString()
    with tf.io.TFRecordWriter(str(span_file), options="GZIP") as writer:
        for record in records:
            writer.write(record)
    config = build_config(input_dir, tmp_path / "out")

    # However Beam batches the examples, the error names the feature and the counts.
    with pytest.raises(DataTypeError, match=r'feature "fare": float_list in 2999 examples, bytes_list in 1 example'):
        local_runner.run(config)
    executions = node_executions(config)
    assert executions["StatisticsGen"] == ["FAILED"]
    assert "ValidationGate" not in executions


def test_empty_input_folder_is_refused_before_any_run(tmp_path, capsys):
    empty = tmp_path / "input"
    (empty / "tfrecord" / "span-1").mkdir(parents=True)
    overrides = config_overrides(empty, tmp_path / "out")
    code = local_runner.main(["--config", str(LOCAL_CONFIG), *[arg for o in overrides for arg in ("--set", o)]])
    err = capsys.readouterr().err
    assert code == 2
    assert f"input.path: no input files in '{empty / 'tfrecord'}'" in err
    assert not (tmp_path / "out" / "metadata.sqlite").exists()


def test_tfx_cli_runs_the_pipeline_on_csv_input_to_a_pushed_model(sample_input, tmp_path):
    config = build_config(sample_input, tmp_path / "out", *FAST, input_format="csv")
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    env = {**os.environ, "LOCAL_HOME": str(tmp_path / "tfx_home"), "PIPELINE_CONFIG": str(config_file)}
    tfx_cli = os.path.join(os.path.dirname(sys.executable), "tfx")
    runner = str(REPO_ROOT / "pipelines" / "local_runner.py")

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [tfx_cli, *args, "--engine=local"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600
        )

    created = cli("pipeline", "create", f"--pipeline_path={runner}")
    assert created.returncode == 0, created.stderr[-3000:]
    assert f'Pipeline "{config.pipeline.name}" created successfully.' in created.stdout
    assert node_executions(config) == {}, "creating the pipeline must not run it"

    ran = cli("run", "create", f"--pipeline_name={config.pipeline.name}")
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert "Pusher done" in ran.stdout
    executions = node_executions(config)
    assert executions["ValidationGate"] == ["COMPLETE"] and executions["Pusher"] == ["COMPLETE"]
    assert len(list(pathlib.Path(config.pusher.serving_root).iterdir())) == 1
