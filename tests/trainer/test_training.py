"""The distributed training loop on one worker: quality, TensorBoard, export, resume, chief-only writes."""

from __future__ import annotations

import dataclasses
import json
import math
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

from tests.conftest import serialized_examples, taxi_task
from tests.trainer.conftest import TRANSFORM_LAYER_LIBRARIES
from trainer import data, export, features, heads, model, strategy, task, training
from trainer.hyperparameters import Hyperparameters
from trainer.settings import TrainingSettings


def _job(transformed, dirs, tf_config=None, **settings) -> task.TrainingJob:
    values = {
        "train_steps": 300,
        "batch_size": 128,
        "checkpoint_every_steps": 50,
        "log_every_steps": 50,
        "checkpoint_root": dirs["checkpoint_root"],
        **settings,
    }
    return task.TrainingJob(
        train_files=transformed.train_files,
        eval_files=transformed.eval_files,
        transform_output=transformed.transform_output,
        serving_model_dir=dirs["serving_model_dir"],
        model_run_dir=dirs["model_run_dir"],
        settings=TrainingSettings(**values),
        hparams=Hyperparameters(),
        task=taxi_task(),
        tf_config=tf_config,
    )


@pytest.fixture(scope="module")
def trained(transformed, tmp_path_factory):
    root = tmp_path_factory.mktemp("trained")
    dirs = {name: str(root / name) for name in ("serving_model_dir", "model_run_dir", "checkpoint_root")}
    return task.run_training(_job(transformed, dirs)), dirs


def test_training_learns_and_reports(trained):
    report, dirs = trained
    assert report.training.final_step == 300 and report.training.resumed_from_step == 0
    assert report.training.num_replicas == 1 and report.strategy == "default"
    assert report.eval_metrics.num_examples == 2000
    assert report.eval_metrics.metrics["auc"] > 0.9, "well above the 0.5 of a model that learned nothing"
    assert report.training.examples_per_second > 0
    saved = json.loads(open(os.path.join(dirs["model_run_dir"], task.REPORT_FILE)).read())
    assert saved["eval_metrics"]["metrics"]["auc"] == pytest.approx(report.eval_metrics.metrics["auc"])


def _scalar_tags(log_dir: str) -> dict[str, list[float]]:
    accumulator = event_accumulator.EventAccumulator(log_dir, size_guidance={event_accumulator.TENSORS: 0})
    accumulator.Reload()
    return {
        tag: [float(tf.make_ndarray(event.tensor_proto)) for event in accumulator.Tensors(tag)]
        for tag in accumulator.Tags()["tensors"]
    }


def test_tensorboard_has_train_and_eval_scalars(trained):
    report, dirs = trained
    train = _scalar_tags(os.path.join(dirs["model_run_dir"], "train"))
    assert set(train) >= {"loss", "auc", "accuracy", "learning_rate", "examples_per_second"}
    assert len(train["loss"]) == 300 // 50
    assert train["learning_rate"][0] == pytest.approx(Hyperparameters().learning_rate)
    evaluation = _scalar_tags(os.path.join(dirs["model_run_dir"], "eval"))
    assert set(evaluation) >= {"loss", "auc", "accuracy"}
    assert evaluation["auc"][-1] == pytest.approx(report.eval_metrics.metrics["auc"], abs=1e-6)


def test_exported_model_serves_raw_examples_without_the_label(trained, transformed):
    _, dirs = trained
    loaded = tf.saved_model.load(dirs["serving_model_dir"])
    assert set(loaded.signatures) == {export.SERVING_SIGNATURE, export.TRANSFORM_SIGNATURE}
    rows = transformed.raw_eval_rows[:64]
    requests = serialized_examples(rows, drop=("tips",))
    outputs = loaded.signatures[export.SERVING_SIGNATURE](examples=tf.constant(requests))
    probabilities = outputs["probabilities"].numpy()
    assert probabilities.shape == (64,) and ((probabilities >= 0) & (probabilities <= 1)).all()
    # The exported graph applies the same transform as training: cash trips never record a tip.
    cash = np.array([row["payment_type"] == "Cash" for row in rows])
    assert probabilities[cash].max() < 0.2 < probabilities[~cash].max()


def test_export_traces_without_autograph_and_still_serves(transformed, tmp_path, autograph_conversions):
    import tensorflow_transform as tft

    transform_output = tft.TFTransformOutput(transformed.transform_output)
    head = heads.BinaryHead()
    inputs = model.model_inputs(taxi_task(), data.vocabulary_sizes(transform_output, taxi_task()))
    role = strategy.ClusterRole(task_type="worker", task_index=0, num_workers=1)
    built = model.build_model(Hyperparameters(), inputs, head.num_outputs)
    export.export_serving_model(built, transform_output, taxi_task(), head, str(tmp_path / "serving"), role)
    # Neither our signatures nor tf_keras's traces of the Transform layer (which nothing loads) go through AutoGraph.
    assert not [module for module in autograph_conversions if module.startswith(TRANSFORM_LAYER_LIBRARIES)]
    loaded = tf.saved_model.load(str(tmp_path / "serving"))
    requests = tf.constant(serialized_examples(transformed.raw_eval_rows[:8], drop=("tips",)))
    assert loaded.signatures[export.SERVING_SIGNATURE](examples=requests)["probabilities"].shape == (8,)
    transformed_batch = loaded.signatures[export.TRANSFORM_SIGNATURE](
        examples=tf.constant(serialized_examples(transformed.raw_eval_rows[:8]))
    )
    assert transformed_batch[features.LABEL_KEY].shape == (8,)


class _InterruptedError(Exception):
    pass


def _crash_at(step_to_crash: int):
    def hook(step: int) -> None:
        if step == step_to_crash:
            raise _InterruptedError

    return hook


def _checkpoint_dirs(job) -> list[str]:
    root = job.settings.checkpoint_root
    return sorted(os.listdir(root)) if os.path.exists(root) else []


def test_interrupted_training_resumes_from_its_checkpoint_and_cleans_up(transformed, job_dirs):
    job = _job(transformed, job_dirs, train_steps=200)
    with pytest.raises(_InterruptedError):
        task.run_training(job, on_step=_crash_at(130))
    (key,) = _checkpoint_dirs(job)
    assert tf.train.latest_checkpoint(os.path.join(job.settings.checkpoint_root, key)).endswith("ckpt-100")
    assert not os.path.exists(job.serving_model_dir), "an interrupted run exports nothing"

    steps_run = []
    report = task.run_training(job, on_step=steps_run.append)
    assert report.training.resumed_from_step == 100 and report.checkpoint_dir.endswith(key)
    assert steps_run[0] == 101 and report.training.final_step == 200
    assert tf.io.gfile.exists(os.path.join(job.serving_model_dir, "saved_model.pb"))
    assert _checkpoint_dirs(job) == [], "a finished training's checkpoints are removed after the export"


def test_a_changed_model_starts_from_step_0_and_never_restores_the_old_checkpoint(transformed, job_dirs):
    first = _job(transformed, job_dirs, train_steps=200)
    with pytest.raises(_InterruptedError):
        task.run_training(first, on_step=_crash_at(130))
    (old_key,) = _checkpoint_dirs(first)

    # Same data, steps and seed; one more hidden layer: restoring ckpt-100 into it would fail or mislead.
    deeper = dataclasses.replace(first, hparams=Hyperparameters(num_layers=3))
    steps_run = []
    report = task.run_training(deeper, on_step=steps_run.append)
    assert report.training.resumed_from_step == 0 and steps_run[0] == 1
    assert not report.checkpoint_dir.endswith(old_key)
    assert _checkpoint_dirs(first) == [old_key], "the other training's checkpoints are left alone"


def test_the_checkpoint_key_covers_the_code_the_network_and_the_settings(transformed, job_dirs, monkeypatch):
    job = _job(transformed, job_dirs, train_steps=60)
    network = {"inputs": [{"name": "x_xf", "vocabulary_size": None}], "num_outputs": 1, "head": "BinaryHead"}
    key = task.checkpoint_dir_for(job, network)
    assert key == task.checkpoint_dir_for(_job(transformed, job_dirs, train_steps=60), network)
    assert key != task.checkpoint_dir_for(_job(transformed, job_dirs, train_steps=60, seed=7), network)
    assert key != task.checkpoint_dir_for(job, {**network, "num_outputs": 3})
    monkeypatch.setattr(task, "code_version", lambda module: "edited")
    assert key != task.checkpoint_dir_for(job, network), "an edit to the trainer code changes the key"


def test_a_non_chief_worker_writes_nothing_shared(transformed, job_dirs):
    second_worker = {"cluster": {"worker": ["localhost:1", "localhost:2"]}, "task": {"type": "worker", "index": 1}}
    # One process cannot join a real cluster: force the default strategy, keep the non-chief role.
    job = _job(transformed, job_dirs, tf_config=second_worker, train_steps=60, strategy="default")
    report = task.run_training(job)
    assert not report.is_chief and report.training.final_step == 60
    assert not os.path.exists(job.serving_model_dir)
    assert tf.train.latest_checkpoint(report.checkpoint_dir) is None and _checkpoint_dirs(job) == []
    assert not os.path.exists(os.path.join(job.model_run_dir, task.REPORT_FILE))
    assert not os.path.exists(os.path.join(job.model_run_dir, "train"))


def test_train_epochs_sets_the_steps_from_the_size_of_the_training_split(transformed, job_dirs):
    job = _job(transformed, job_dirs, train_steps=1000, train_epochs=0.5)
    steps_run = []
    report = task.run_training(job, on_step=steps_run.append)
    assert report.training.final_step == math.ceil(0.5 * 6000 / 128) == len(steps_run)


@pytest.mark.parametrize(
    ("step", "settings", "expected"),
    [
        (0, {}, 10),  # steps_per_execution
        (45, {}, 5),  # up to the log step 50
        (95, {"log_every_steps": 1000}, 5),  # up to the checkpoint step 100
        (296, {}, 4),  # up to the last step
        (0, {"steps_per_execution": 1}, 1),
        (7, {"steps_per_execution": 64, "log_every_steps": 1000, "checkpoint_every_steps": 1000}, 64),
    ],
)
def test_a_graph_call_runs_up_to_the_next_log_or_checkpoint_step(step, settings, expected):
    values = {"train_steps": 300, "batch_size": 128, "checkpoint_every_steps": 100, "log_every_steps": 50, **settings}
    assert training.steps_to_run(step, TrainingSettings(**values)) == expected


def test_steps_per_execution_changes_nothing_but_the_calls(transformed, tmp_path):
    runs = {}
    for per_call in (1, 7):
        dirs = {
            name: str(tmp_path / str(per_call) / name)
            for name in ("serving_model_dir", "model_run_dir", "checkpoint_root")
        }
        steps_run = []
        report = task.run_training(
            _job(transformed, dirs, train_steps=120, steps_per_execution=per_call), on_step=steps_run.append
        )
        runs[per_call] = report, steps_run, _scalar_tags(os.path.join(dirs["model_run_dir"], "train"))
    (one_report, one_steps, one_scalars), (seven_report, seven_steps, seven_scalars) = runs[1], runs[7]
    assert one_steps == seven_steps == list(range(1, 121))
    assert len(seven_scalars["loss"]) == len(one_scalars["loss"]) == 120 // 50 + 1  # steps 50, 100 and the last
    assert seven_scalars["loss"] == pytest.approx(one_scalars["loss"], rel=1e-5)
    assert seven_report.eval_metrics.metrics == pytest.approx(one_report.eval_metrics.metrics, rel=1e-5)
