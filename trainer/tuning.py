"""Tuner entry point: `tuner_fn` builds a KerasTuner search over the Keras 3 model.

The search space maps KerasTuner's `HyperParameters` onto our typed
`Hyperparameters`, and both the Tuner and the Trainer build the model through
`model.build_model` from that record: the best trial's values rebuild exactly
the architecture that was scored.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence

import keras
import keras_tuner
import tensorflow as tf
from absl import logging

from trainer import data, heads, model
from trainer.heads import Head
from trainer.hyperparameters import Hyperparameters
from trainer.model import ModelInput
from trainer.preprocessing import task_from_config
from trainer.settings import SETTINGS_KEY, BatchSettings, TuningSettings

__all__ = ["TENSORBOARD_DIR", "TUNING_KEY", "build_tuner", "compiled_model", "search_space", "tuner_fn"]

# Where TuningSettings travel in the Tuner's custom_config (BatchSettings under SETTINGS_KEY).
TUNING_KEY = "tuning"
# Under the tuner's working dir; KerasTuner writes one run (with HParams) per trial.
TENSORBOARD_DIR = "tensorboard"
_PROJECT = "search"
_HYPERBAND_MAX_EPOCHS = 3


def search_space(hp: keras_tuner.HyperParameters) -> Hyperparameters:
    """Declares the search space on `hp` and returns the point it currently holds."""
    return Hyperparameters(
        learning_rate=hp.Choice("learning_rate", [1e-3, 3e-3, 1e-2]),
        num_layers=hp.Int("num_layers", 1, 3),
        units=hp.Choice("units", [32, 64, 128]),
        embedding_dim=hp.Choice("embedding_dim", [4, 8, 16]),
        dropout=hp.Choice("dropout", [0.0, 0.1, 0.3]),
    )


def compiled_model(hp: keras_tuner.HyperParameters, inputs: Sequence[ModelInput], head: Head) -> keras.Model:
    """The Trainer's model at this point of the search, compiled for `fit` with the head's loss.

    KerasTuner trains with `Model.fit` in one process (no multi-worker
    strategy), where Keras 3's fit works.
    """
    hparams = search_space(hp)
    built = model.build_model(hparams, inputs, head.num_outputs)
    built.compile(
        optimizer=keras.optimizers.Adam(learning_rate=hparams.learning_rate),
        loss=head.keras_loss(),
        metrics=head.keras_metrics(),
    )
    # Without a distribution strategy Keras builds the optimizer inside the first trace of its
    # train function, and tf.function, seeing variables created, traces it again: twice a trial.
    built.optimizer.build(built.trainable_variables)
    return built


class _TrialReporting:
    """Logs which tuner joins the search and which trial it starts: parallel searches show who ran what."""

    def on_search_begin(self):
        logging.info("Tuner %s joins the search", self.tuner_id)
        super().on_search_begin()

    def on_trial_begin(self, trial):
        logging.info("Tuner %s starts trial %s: %s", self.tuner_id, trial.trial_id, trial.hyperparameters.values)
        super().on_trial_begin(trial)


class RandomSearch(_TrialReporting, keras_tuner.RandomSearch):
    """keras_tuner.RandomSearch that logs each trial it starts."""


class BayesianOptimization(_TrialReporting, keras_tuner.BayesianOptimization):
    """keras_tuner.BayesianOptimization that logs each trial it starts."""


class Hyperband(_TrialReporting, keras_tuner.Hyperband):
    """keras_tuner.Hyperband that logs each trial it starts."""


def build_tuner(
    tuning: TuningSettings, inputs: Sequence[ModelInput], head: Head, directory: str, seed: int
) -> keras_tuner.Tuner:
    """The KerasTuner tuner of the configured algorithm over `compiled_model`, towards the head's objective."""
    hypermodel = functools.partial(compiled_model, inputs=inputs, head=head)
    name, direction = head.objective
    common = {
        "hypermodel": hypermodel,
        "objective": keras_tuner.Objective(name, direction=direction),
        "directory": directory,
        "project_name": _PROJECT,
        "seed": seed,
    }
    if tuning.algorithm == "hyperband":
        return Hyperband(max_epochs=_HYPERBAND_MAX_EPOCHS, **common)
    if tuning.algorithm == "bayesian":
        return BayesianOptimization(max_trials=tuning.max_trials, **common)
    return RandomSearch(max_trials=tuning.max_trials, **common)


def tuner_fn(fn_args):
    """TFX Tuner entry point: the tuner and the arguments of its `search`."""
    import tensorflow_transform as tft
    from tfx.components.tuner.component import TunerFnResult

    model.check_keras_3()
    tuning = TuningSettings.from_fn_args(fn_args.custom_config[TUNING_KEY], fn_args.train_steps)
    training = BatchSettings.model_validate(fn_args.custom_config[SETTINGS_KEY])
    task = task_from_config(fn_args.custom_config)
    transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    transform = data.transformer(transform_output)
    inputs = model.model_inputs(task, data.vocabulary_sizes(transform_output, task))
    head = heads.make_head(task.type, transform_output, fn_args.train_files)
    steps = tuning.steps_per_trial
    if tuning.epochs_per_trial is not None:
        num_examples = data.count_examples(fn_args.train_files)
        steps = tuning.steps_for(num_examples, training.batch_size)
        logging.info(
            "Trials of %d steps: %g epochs of %d examples at batch %d (at most tuner.steps_per_trial=%d)",
            steps,
            tuning.epochs_per_trial,
            num_examples,
            training.batch_size,
            tuning.steps_per_trial,
        )
    tuner = build_tuner(tuning, inputs, head, fn_args.working_dir, training.seed)
    validation = data.make_dataset(fn_args.eval_files, transform, training.eval_batch_size, False)
    # Its size, known to Keras: with an unknown one Keras reads until the data runs out and
    # warns "Your input ran out of data; interrupting training" at every trial.
    batches = tuning.validation_batches(data.count_examples(fn_args.eval_files), training.eval_batch_size)
    # Every trial scores on the same examples: the eval split is read in its stored order.
    validation = validation.take(batches).apply(tf.data.experimental.assert_cardinality(batches))
    fit_kwargs = {
        "x": data.make_dataset(fn_args.train_files, transform, training.batch_size, True, seed=training.seed),
        "validation_data": validation,
        "steps_per_epoch": steps,
        "epochs": 1,
        "callbacks": [keras.callbacks.TensorBoard(log_dir=os.path.join(fn_args.working_dir, TENSORBOARD_DIR))],
        "verbose": 0,
    }
    return TunerFnResult(tuner=tuner, fit_kwargs=fit_kwargs)
