"""Fixtures of the integration tier: the sample as pipeline input, and one good run the tests share."""

from __future__ import annotations

import json
import pathlib

import pytest
import tensorflow as tf

from pipelines import local_runner
from tests.conftest import build_config, write_input


@pytest.fixture(scope="session")
def sample_input(tmp_path_factory, sample_rows) -> pathlib.Path:
    """The whole taxi sample as span-1, in both formats."""
    input_dir = tmp_path_factory.mktemp("sample_input")
    write_input(input_dir, sample_rows)
    return input_dir


@pytest.fixture(scope="session")
def good_run(sample_input, tmp_path_factory):
    """A full run of the real config on the sample, pushed: (config, timings, output folder)."""
    output_dir = tmp_path_factory.mktemp("good_run")
    config = build_config(sample_input, output_dir)
    timings = local_runner.run(config)
    return config, timings, output_dir


def only_artifact_dir(root: pathlib.Path, component: str, output: str) -> pathlib.Path:
    (directory,) = (root / component / output).iterdir()
    return directory


def split_examples(split_dir: pathlib.Path) -> list[tf.train.Example]:
    files = [str(path) for path in split_dir.glob("*.gz")]
    return [
        tf.train.Example.FromString(record)
        for record in tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator()
    ]


def summaries(config) -> list[dict]:
    """The JSON run summaries beside the logs, oldest first."""
    paths = sorted(pathlib.Path(config.pipeline.log_dir).glob("run-*.summary.json"))
    return [json.loads(path.read_text()) for path in paths]
