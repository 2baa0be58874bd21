"""The Keras 3 model builder: inputs, output shape and dtype, and the one-Keras rule."""

from __future__ import annotations

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from tests.conftest import REPO_ROOT, taxi_task
from trainer import features, model
from trainer.features import FeatureKind
from trainer.hyperparameters import Hyperparameters

SIZES = {
    features.transformed_name(feature.name): 30
    for feature in taxi_task().features
    if feature.kind is not FeatureKind.NUMERIC
}
INPUTS = model.model_inputs(taxi_task(), SIZES)


def _batch(size: int, inputs=INPUTS) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        item.name: rng.integers(0, item.vocabulary_size, size)
        if item.is_categorical
        else rng.normal(size=size).astype("float32")
        for item in inputs
    }


def test_inputs_follow_the_task_with_dtypes():
    built = model.build_model(Hyperparameters(), INPUTS, 1)
    names = {item.name for item in INPUTS}
    assert set(built.input) == names
    # An optional numeric feature brings its presence indicator.
    assert features.presence_name("trip_seconds") in names and features.presence_name("fare") not in names
    for item in INPUTS:
        assert built.input[item.name].dtype == ("int64" if item.is_categorical else "float32"), item.name
        assert tuple(built.input[item.name].shape) == (None,)


@pytest.mark.parametrize(("num_outputs", "shape"), [(1, (5,)), (4, (5, 4))])
def test_output_is_one_value_per_example_or_one_per_class(num_outputs, shape):
    built = model.build_model(Hyperparameters(), INPUTS, num_outputs)
    outputs = built(_batch(5), training=False)
    assert tuple(outputs.shape) == shape
    assert outputs.dtype == "float32"
    assert np.isfinite(np.asarray(outputs)).all()


@pytest.mark.parametrize(
    "inputs",
    [(model.ModelInput("x_xf"),), (model.ModelInput("c_xf", 7),), (model.ModelInput("x_xf"), model.ModelInput("y_xf"))],
    ids=["one_numeric", "one_categorical", "numeric_only"],
)
def test_any_mix_of_inputs_builds(inputs):
    built = model.build_model(Hyperparameters(), inputs, 3)
    assert tuple(built(_batch(2, inputs), training=False).shape) == (2, 3)


def test_hyperparameters_shape_the_network():
    small = model.build_model(Hyperparameters(num_layers=1, units=16, dropout=0.0), INPUTS, 1)
    large = model.build_model(Hyperparameters(num_layers=3, units=64, dropout=0.3), INPUTS, 1)
    assert [layer.name for layer in small.layers if layer.name.startswith("hidden_")] == ["hidden_0"]
    assert [layer.units for layer in large.layers if layer.name.startswith("hidden_")] == [64, 64, 64]
    assert not any(layer.name.startswith("dropout_") for layer in small.layers)
    assert large.count_params() > small.count_params()


def test_embedding_never_wider_than_its_vocabulary():
    built = model.build_model(Hyperparameters(embedding_dim=16), INPUTS, 1)
    day = built.get_layer(f"{features.transformed_name('trip_start_day')}_embedding")
    assert day.output_dim == 16
    tiny_inputs = model.model_inputs(taxi_task(), {**SIZES, "trip_start_day_xf": 4})
    tiny = model.build_model(Hyperparameters(embedding_dim=16), tiny_inputs, 1)
    assert tiny.get_layer("trip_start_day_xf_embedding").output_dim == 4


def test_missing_vocabulary_size_is_named():
    sizes = dict(SIZES)
    del sizes["company_xf"]
    with pytest.raises(ValueError, match="no vocabulary size for categorical input 'company_xf'"):
        model.model_inputs(taxi_task(), sizes)


@pytest.mark.parametrize(
    "imports",
    [
        "import trainer.model; import tensorflow as tf; tf.keras.layers; import tensorflow_transform",
        "import tensorflow as tf; import trainer.model; tf.keras.layers; import tensorflow_transform",
        "import tensorflow_transform; import tensorflow as tf; import trainer.model",
    ],
    ids=["trainer_first", "tf_keras_touched_before_tft", "tft_first"],
)
def test_one_keras_whatever_the_import_order(imports):
    # Process-wide state: each order runs in a fresh interpreter.
    code = f"""{imports}
import keras, tensorflow as tf
from trainer import model
from tests.trainer.test_model import INPUTS
from trainer.hyperparameters import Hyperparameters
built = model.build_model(Hyperparameters(), INPUTS, 1)
print(tf.keras.__name__, isinstance(built, keras.Model), type(built).__module__, keras.__version__)
"""
    # Without the flag: this test process has imported tensorflow_transform, which set it.
    env = {name: value for name, value in os.environ.items() if name != "TF_USE_LEGACY_KERAS"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=180, cwd=REPO_ROOT, env=env
    )
    assert result.returncode == 0, result.stderr[-2000:]
    tf_keras_name, is_keras_model, model_module, version = result.stdout.split()
    assert tf_keras_name.startswith("tf_keras"), "tf.keras must be tf_keras in every process"
    assert is_keras_model == "True" and model_module.startswith("keras.") and version.startswith("3.")


def test_check_keras_3_explains(monkeypatch):
    monkeypatch.setattr(keras, "__version__", "2.16.0")
    with pytest.raises(RuntimeError, match=r"needs Keras 3, found keras 2\.16\.0"):
        model.check_keras_3()


def test_hyperparameters_from_dict_rejects_unknown_and_wrong_types():
    assert Hyperparameters.from_dict({"units": 32}).units == 32
    with pytest.raises(ValueError, match="units: Input should be a valid integer"):
        Hyperparameters.from_dict({"units": 2.5})
    with pytest.raises(ValueError, match="colour"):
        Hyperparameters.from_dict({"colour": 1})
