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
