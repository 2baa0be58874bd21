"""KerasTuner search: the Trainer rebuilds the tuned architecture, and TensorBoard gets HParams."""

from __future__ import annotations

import json
import os
import types
import warnings

import keras_tuner
import pytest
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from tests.conftest import task_config, taxi_task
from trainer import data, heads, model, tuning
from trainer.hyperparameters import Hyperparameters
from trainer.settings import SETTINGS_KEY, BatchSettings, TuningSettings


def _fn_args(transformed, working_dir, algorithm="random", max_trials=2, steps_per_trial=30, **settings):
    training = BatchSettings(batch_size=128)
    tuning_settings = TuningSettings(
        algorithm=algorithm, max_trials=max_trials, steps_per_trial=steps_per_trial, **settings
    )
    return types.SimpleNamespace(
        custom_config={
            SETTINGS_KEY: training.model_dump(mode="json"),
            tuning.TUNING_KEY: tuning_settings.custom_config(),
            **task_config(),
        },
        # As TFX's Tuner passes it: TrainArgs.num_steps, the pipeline's tuner.steps_per_trial.
        train_steps=steps_per_trial,
        transform_graph_path=transformed.transform_output,
        train_files=transformed.train_files,
        eval_files=transformed.eval_files,
        working_dir=str(working_dir),
    )


@pytest.fixture(scope="module")
def searched(transformed, tmp_path_factory):
    working_dir = tmp_path_factory.mktemp("tuner")
    result = tuning.tuner_fn(_fn_args(transformed, working_dir))
    result.tuner.search(**result.fit_kwargs)
    return result.tuner, working_dir


@pytest.mark.parametrize(
    ("epochs", "cap", "expected"),
    [
        (None, 30, 30),  # no epochs: steps_per_trial
        (0.5, 1000, 24),  # ceil(0.5 * 6000 / 128): the transformed sample's 6000 training rows
        (20.0, 500, 500),  # capped at steps_per_trial
    ],
)
def test_epochs_per_trial_set_the_trial_steps_from_the_training_split(transformed, tmp_path, epochs, cap, expected):
    result = tuning.tuner_fn(_fn_args(transformed, tmp_path, steps_per_trial=cap, epochs_per_trial=epochs))
    assert result.fit_kwargs["steps_per_epoch"] == expected


@pytest.mark.parametrize(
    ("validation_examples", "expected"),
    [
        (None, 2000),  # the whole eval split
        (1000, 1024),  # 2 batches of 512: rounded up to whole batches
        (100_000, 2000),  # a cap above the split's size reads it all
    ],
)
def test_trials_are_scored_on_at_most_validation_examples(transformed, tmp_path, validation_examples, expected):
    result = tuning.tuner_fn(_fn_args(transformed, tmp_path, validation_examples=validation_examples))
    labels = [batch_labels for _, batch_labels in result.fit_kwargs["validation_data"]]
    assert sum(int(batch.shape[0]) for batch in labels) == expected
    assert int(result.fit_kwargs["validation_data"].cardinality()) == len(labels), "Keras knows how many batches"
    again = [batch_labels for _, batch_labels in result.fit_kwargs["validation_data"]]
    assert [b.numpy().tolist() for b in again] == [b.numpy().tolist() for b in labels], "the same examples each trial"


def test_default_search_point_is_a_valid_hyperparameter_set():
    hparams = tuning.search_space(keras_tuner.HyperParameters())
    assert isinstance(hparams, Hyperparameters)
    assert hparams.learning_rate == 1e-3 and hparams.num_layers == 1


def test_a_trial_traces_its_training_step_once(transformed, tmp_path):
    # Keras builds the optimizer inside the first trace of the train function when no
    # distribution strategy is set, and tf.function then traces it again: twice per trial.
    result = tuning.tuner_fn(_fn_args(transformed, tmp_path))
    built = result.tuner.hypermodel.build(keras_tuner.HyperParameters())
    traces = []
    train_step = built.train_step

    def counted(batch):
        traces.append(batch)
        return train_step(batch)

    built.train_step = counted
    built.fit(result.fit_kwargs["x"], steps_per_epoch=3, epochs=1, verbose=0)
    assert len(traces) == 1


@pytest.mark.parametrize("validation_examples", [None, 1000])
def test_a_trial_is_scored_without_running_out_of_data(transformed, tmp_path, validation_examples):
    # With an eval set of unknown size Keras read until it ran out, warning that training was interrupted.
    result = tuning.tuner_fn(_fn_args(transformed, tmp_path, validation_examples=validation_examples))
    built = result.tuner.hypermodel.build(keras_tuner.HyperParameters())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        built.evaluate(result.fit_kwargs["validation_data"], verbose=0)
    assert not [str(warning.message) for warning in caught if "ran out of data" in str(warning.message)]


def test_search_completes_the_configured_trials(searched):
    tuner, _ = searched
    trials = tuner.oracle.get_best_trials(10)
    assert len(trials) == 2 and all(trial.score is not None for trial in trials)
    assert len({json.dumps(trial.hyperparameters.values, sort_keys=True) for trial in trials}) == 2


def test_best_hyperparameters_rebuild_the_same_architecture_in_the_trainer(searched, transformed):
    import tensorflow_transform as tft

    tuner, _ = searched
    best = tuner.get_best_hyperparameters(1)[0]
    # What the Trainer does with the Tuner's output artifact: a JSON round trip of the config.
    values = json.loads(json.dumps(best.get_config()))["values"]
    sizes = data.vocabulary_sizes(tft.TFTransformOutput(transformed.transform_output), taxi_task())
    inputs = model.model_inputs(taxi_task(), sizes)
    in_trainer = model.build_model(Hyperparameters.from_dict(values), inputs, heads.BinaryHead().num_outputs)
    in_tuner = tuner.hypermodel.build(best)
    assert [(layer.name, type(layer).__name__) for layer in in_trainer.layers] == [
        (layer.name, type(layer).__name__) for layer in in_tuner.layers
    ]
    assert [w.shape for w in in_trainer.weights] == [w.shape for w in in_tuner.weights]
    assert in_trainer.count_params() == in_tuner.count_params()


def test_each_trial_records_hparams_for_tensorboard(searched):
    tuner, working_dir = searched
    tensorboard_dir = os.path.join(working_dir, tuning.TENSORBOARD_DIR)
    trial_ids = {trial.trial_id for trial in tuner.oracle.trials.values()}
    sessions = {}
    for root, _, files in os.walk(tensorboard_dir):
        if not any(name.startswith("events.out.tfevents") for name in files):
            continue
        accumulator = event_accumulator.EventAccumulator(root)
        accumulator.Reload()
        try:
            content = accumulator.PluginTagToContent("hparams")
        except KeyError:  # train/ and validation/ runs hold scalars only
            continue
        if "_hparams_/session_start_info" in content:
            data_proto = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
            info = data_proto.session_start_info
            sessions[info.group_name] = {name: value for name, value in info.hparams.items()}
    assert set(sessions) == trial_ids
    for hparams in sessions.values():
        assert set(hparams) == set(Hyperparameters.model_fields)


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [("random", "RandomSearch"), ("bayesian", "BayesianOptimization"), ("hyperband", "Hyperband")],
)
def test_algorithm_comes_from_config(transformed, tmp_path, algorithm, expected):
    result = tuning.tuner_fn(_fn_args(transformed, tmp_path, algorithm=algorithm))
    assert isinstance(result.tuner, getattr(keras_tuner, expected))
    assert result.fit_kwargs["steps_per_epoch"] == 30
