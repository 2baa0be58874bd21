"""Your own data and task, from a config and a schema alone: no Python module is edited.

- Multiclass: the README's "Your own data" commands, run as written on a
  generated data set (three string classes, mixed feature types, missing values).
- Regression: scikit-learn's bundled diabetes data, through the same commands.

Each run goes through Pusher; the pushed model then serves raw tf.Examples, and
its eval metric is compared with scikit-learn's HistGradientBoosting (default
settings) fitted on the same train split and scored on the same eval split.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from components.pusher import versions
from pipelines import config as config_lib
from pipelines import init_dataset, local_runner
from pipelines import pipeline as pipeline_lib
from tests import datasets
from tests.conftest import REPO_ROOT, node_executions
from trainer.features import FeatureKind, TaskSpec

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1500)]

README = REPO_ROOT / "README.md"
VENV_BIN = pathlib.Path(sys.executable).parent


def readme_commands() -> list[str]:
    """The commands of the first bash block of the README's "Your own data" section, as written."""
    section = README.read_text().split("\n## Your own data\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    commands, current = [], ""
    for line in block.splitlines():
        if line.strip().startswith("#") or not line.strip():
            continue
        current += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            commands.append(current.strip())
            current = ""
    return commands


def _run_as_written(command: str, cwd: pathlib.Path) -> subprocess.CompletedProcess:
    """Runs a README command in `cwd`; `make` commands run the recipe the repo's Makefile gives them."""
    if command.startswith("make "):
        recipe = subprocess.run(
            ["make", "-s", "-n", "-C", str(REPO_ROOT), *shlex.split(command)[1:]],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert "\n" not in recipe, f"{command} would run more than the pipeline: {recipe}"
        command = recipe
    command = re.sub(r"(^|\s)\.venv/bin/", lambda match: match.group(1) + f"{VENV_BIN}/", command)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(command, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=1200)


def _split_rows(config: config_lib.PipelineConfig, split: str) -> list[tf.train.Example]:
    root = pathlib.Path(config.pipeline.root)
    (examples,) = (root / pipeline_lib.EXAMPLE_GEN_ID / "examples").iterdir()
    files = [str(path) for path in (examples / f"Split-{split}").glob("*.gz")]
    return [
        tf.train.Example.FromString(record)
        for record in tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator()
    ]


def _value(example: tf.train.Example, name: str):
    feature = example.features.feature.get(name)
    kind = feature.WhichOneof("kind") if feature is not None else None
    values = list(getattr(feature, kind).value) if kind else []
    if not values:
        return None
    return values[0].decode() if isinstance(values[0], bytes) else values[0]


def baseline_score(config: config_lib.PipelineConfig, task: TaskSpec) -> dict[str, float]:
    """HistGradientBoosting (defaults) and the trivial predictor on the pipeline's own train/eval splits."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    train, evaluation = _split_rows(config, "train"), _split_rows(config, "eval")
    categories = {
        feature.name: sorted({str(_value(row, feature.name)) for row in train})
        for feature in task.features
        if feature.kind is FeatureKind.CATEGORICAL
    }

    def matrix(rows):
        columns = []
        for feature in task.features:
            values = [_value(row, feature.name) for row in rows]
            if feature.name in categories:
                index = {value: code for code, value in enumerate(categories[feature.name])}
                columns.append([index.get(str(value), np.nan) for value in values])
            else:
                columns.append([np.nan if value is None else float(value) for value in values])
        return np.array(columns, dtype=float).T

    mask = [feature.name in categories for feature in task.features]
    x_train, x_eval = matrix(train), matrix(evaluation)
    y_train = [_value(row, task.label.name) for row in train]
    y_eval = [_value(row, task.label.name) for row in evaluation]
    if task.type == "multiclass":
        model = HistGradientBoostingClassifier(categorical_features=mask, random_state=0).fit(x_train, y_train)
        majority = max(set(y_train), key=y_train.count)
        return {
            "hgb_accuracy": float(np.mean(model.predict(x_eval) == np.array(y_eval))),
            "majority_accuracy": float(np.mean(np.array(y_eval) == majority)),
        }
    model = HistGradientBoostingRegressor(categorical_features=mask, random_state=0).fit(x_train, y_train)
    y_eval = np.array(y_eval, dtype=float)
    return {
        "hgb_rmse": float(np.sqrt(np.mean((model.predict(x_eval) - y_eval) ** 2))),
        "mean_rmse": float(np.sqrt(np.mean((np.mean(y_train) - y_eval) ** 2))),
    }


def _evaluation(config: config_lib.PipelineConfig) -> dict[str, float]:
    import tensorflow_model_analysis as tfma

    root = pathlib.Path(config.pipeline.root)
    (evaluation,) = (root / pipeline_lib.EVALUATOR_ID / "evaluation").iterdir()
    overall = dict(tfma.load_eval_result(str(evaluation)).slicing_metrics)[()][""][""]
    return {name: value["doubleValue"] for name, value in overall.items() if "doubleValue" in value}


def _pushed_model(config: config_lib.PipelineConfig):
    (version,) = versions.numbered_versions(config.pusher.serving_root)
    return tf.saved_model.load(os.path.join(config.pusher.serving_root, version)).signatures["serving_default"]


def _requests(rows: list[tf.train.Example], task: TaskSpec) -> tf.Tensor:
    """Raw serving requests: the examples without the label."""
    requests = []
    for row in rows:
        request = tf.train.Example()
        request.CopyFrom(row)
        for name in task.label.source_columns:
            del request.features.feature[name]
        requests.append(request.SerializeToString())
    return tf.constant(requests)


def test_the_readme_walk_through_trains_serves_and_beats_the_trivial_model_on_multiclass(tmp_path, monkeypatch):
    datasets.write_csv(tmp_path / "data" / "tiers" / "customers.csv", datasets.customer_tiers())
    commands = readme_commands()
    assert [command.split()[0] for command in commands] == [".venv/bin/python", ".venv/bin/python", "make"]
    for command in commands:
        result = _run_as_written(command, tmp_path)
        assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    config_path = re.search(r"CONFIG=(\S+)", commands[-1]).group(1)
    monkeypatch.chdir(tmp_path)  # the config's paths are relative, as the README's are
    config = config_lib.load_config(config_path)
    task = pipeline_lib.resolved_task(config)
    assert task.type == "multiclass" and "customer_id" not in task.input_columns
    assert node_executions(config)[pipeline_lib.PUSHER_ID] == ["COMPLETE"]

    evaluation = _evaluation(config)
    baseline = baseline_score(config, task)
    print(f"\ntiers (multiclass): model {evaluation}, baselines {baseline}")
    assert evaluation["accuracy"] >= config.evaluator.threshold, "pushed, so blessed"
    assert evaluation["accuracy"] > baseline["majority_accuracy"] + 0.2
    assert evaluation["accuracy"] >= baseline["hgb_accuracy"] - 0.05

    rows = _split_rows(config, "eval")[:200]
    served = _pushed_model(config)(examples=_requests(rows, task))
    assert set(served["classes"].numpy()[0]) == {name.encode() for name in datasets.TIER_CLASSES}
    np.testing.assert_allclose(served["probabilities"].numpy().sum(axis=1), 1.0, rtol=1e-5)
    predicted = [name.decode() for name in served["predicted_class"].numpy()]
    accuracy = np.mean([guess == _value(row, "tier") for guess, row in zip(predicted, rows, strict=True)])
    assert abs(accuracy - evaluation["accuracy"]) < 0.1, "the pushed model is the evaluated one"


def test_regression_on_the_diabetes_data_from_a_config_and_a_schema(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    datasets.write_csv(tmp_path / "data" / "diabetes" / "patients.csv", datasets.diabetes())
    common = ["--input", "data/diabetes", "--pattern", "*.csv", "--task", "regression", "--label", "progression"]
    assert init_dataset.main(["schema", *common, "--out", "schema.pbtxt"]) == 0
    assert (
        init_dataset.main(
            ["config", *common, "--schema", "schema.pbtxt", "--name", "diabetes", "--out", "diabetes.yaml"]
        )
        == 0
    )
    config = config_lib.load_config(
        "diabetes.yaml", ["tuner.max_trials=2", "tuner.steps_per_trial=200", "trainer.train_steps=400"]
    )
    local_runner.run(config)
    task = pipeline_lib.resolved_task(config)
    assert node_executions(config)[pipeline_lib.PUSHER_ID] == ["COMPLETE"]

    evaluation = _evaluation(config)
    baseline = baseline_score(config, task)
    print(f"\ndiabetes (regression): model {evaluation}, baselines {baseline}")
    assert evaluation["rmse"] <= config.evaluator.threshold, "pushed, so blessed: below the mean predictor's RMSE"
    assert evaluation["rmse"] < 0.9 * baseline["mean_rmse"]
    assert evaluation["rmse"] <= baseline["hgb_rmse"] * 1.1

    rows = _split_rows(config, "eval")
    predictions = _pushed_model(config)(examples=_requests(rows, task))["predictions"].numpy()
    assert predictions.shape == (len(rows),) and np.isfinite(predictions).all()
    labels = np.array([_value(row, "progression") for row in rows])
    rmse = math.sqrt(float(np.mean((predictions - labels) ** 2)))
    assert rmse == pytest.approx(evaluation["rmse"], rel=1e-3), "the pushed model is the evaluated one"
    report = json.loads(
        next(pathlib.Path(config.pipeline.root).glob("Trainer/model_run/*/training_report.json")).read_text()
    )
    assert set(report["eval_metrics"]["metrics"]) == {"rmse", "mae"}


def test_palmer_penguins_from_init_dataset_alone_reach_a_pushed_model(tmp_path, monkeypatch):
    """334 TFRecord rows, 3 classes (the penguin data in TFX's wheel): the written defaults run as they are."""
    import tfx

    monkeypatch.chdir(tmp_path)
    bundled = pathlib.Path(tfx.__file__).parent / "components" / "testdata" / "penguin" / "data"
    (tmp_path / "data").mkdir()
    for split in ("train", "eval"):
        (tmp_path / "data" / f"{split}.gz").write_bytes(next((bundled / f"Split-{split}").glob("*.gz")).read_bytes())
    common = ["--input", "data", "--pattern", "*.gz", "--format", "tfrecord", "--task", "multiclass"]
    common += ["--label", "species"]
    assert init_dataset.main(["schema", *common, "--out", "schema/schema.pbtxt"]) == 0
    config_args = ["--schema", "schema/schema.pbtxt", "--name", "penguins", "--out", "penguins.yaml"]
    assert init_dataset.main(["config", *common, *config_args]) == 0

    config = config_lib.load_config("penguins.yaml")
    assert config.validation.drift_thresholds == "schema/drift.yaml"
    local_runner.run(config)
    assert node_executions(config)[pipeline_lib.PUSHER_ID] == ["COMPLETE"]
    eval_rows = len(_split_rows(config, "eval"))
    assert config.validation.min_examples <= eval_rows, "the gate's floor fits the eval split it was written for"

    task = pipeline_lib.resolved_task(config)
    evaluation = _evaluation(config)
    baseline = baseline_score(config, task)
    print(f"\npenguins (multiclass, {eval_rows} eval rows): model {evaluation}, baselines {baseline}")
    assert evaluation["accuracy"] > baseline["majority_accuracy"] + 0.3
    rows = _split_rows(config, "eval")
    served = _pushed_model(config)(examples=_requests(rows, task))
    labels = [_value(row, "species") for row in rows]
    accuracy = np.mean(
        [int(guess) == label for guess, label in zip(served["predicted_class"].numpy(), labels, strict=True)]
    )
    assert accuracy == pytest.approx(evaluation["accuracy"], abs=1e-6), "the pushed model is the evaluated one"
