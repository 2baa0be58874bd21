"""Fixtures of the trainer tests (the transformed data is shared: tests/conftest.py)."""

from __future__ import annotations

import pathlib

import pytest


@pytest.fixture
def job_dirs(tmp_path: pathlib.Path) -> dict[str, str]:
    return {
        "serving_model_dir": str(tmp_path / "serving_model"),
        "model_run_dir": str(tmp_path / "model_run"),
        "checkpoint_root": str(tmp_path / "checkpoints"),
    }


# The Transform layer's libraries: converting tf_keras's Layer.__call__ and TFT's code under it took
# seconds per dataset built and per export. (Keras 3 code, which TF leaves alone unless it is the
# function being traced, has no reason to be converted in a dataset either; its export traces it.)
TRANSFORM_LAYER_LIBRARIES = ("tf_keras", "tensorflow_transform")
UNCONVERTED_IN_DATASETS = (*TRANSFORM_LAYER_LIBRARIES, "keras")


@pytest.fixture
def autograph_conversions(monkeypatch) -> list[str]:
    """The modules of the functions AutoGraph converts while the test runs.

    Spies on `_convert_actual`, the one place TensorFlow's AutoGraph
    (tensorflow/python/autograph/impl/api.py) transforms a function, cached or not.
    """
    from tensorflow.python.autograph.impl import api

    modules: list[str] = []
    original = api._convert_actual

    def spy(entity, program_ctx):
        modules.append(getattr(entity, "__module__", None) or "")
        return original(entity, program_ctx)

    monkeypatch.setattr(api, "_convert_actual", spy)
    return modules
