"""What our components read from each other's artifacts, defined once: split names, properties, files.

Components never import one another; what one writes and another reads is
named here, and read with TFX's own readers where TFX has them. The readers
import TFX when called: the names alone load nothing (the pipelines' quick
commands read them).
"""

from __future__ import annotations

import json
import os

__all__ = [
    "EVAL_SPLIT",
    "IDENTITIES_PROPERTY",
    "SPANS_PROPERTY",
    "TRAINING_STATISTICS_DIR",
    "TRAIN_SPLIT",
    "examples_spans",
    "load_anomalies",
    "load_statistics",
    "older_split_names",
    "read_statistics_file",
    "split_files_pattern",
    "training_label_profile_path",
    "training_statistics_path",
]

# The newest span's hash split (ExampleGen's output config); a window's older spans add theirs.
TRAIN_SPLIT, EVAL_SPLIT = "train", "eval"
# Custom properties of our ExampleGen executors' Examples: the spans read (newest first, JSON),
# and each split's identity (the same rows, the same identity, whatever the split's name; JSON).
SPANS_PROPERTY = "window_spans"
IDENTITIES_PROPERTY = "split_identities"
# Inside a Model artifact of our Trainer, beside Format-Serving: what its newest training data looked like.
TRAINING_STATISTICS_DIR = "training_statistics"


def older_split_names(window_spans: int) -> list[str]:
    """The split names of a window's older spans, nearest first: each keeps its train and eval part."""
    return [f"older{k}_{part}" for k in range(1, window_spans) for part in (TRAIN_SPLIT, EVAL_SPLIT)]


def examples_spans(examples) -> list[int]:
    """The spans an Examples artifact holds, newest first: the window's, or TFX's `span` property."""
    recorded = (
        examples.get_string_custom_property(SPANS_PROPERTY) if examples.has_custom_property(SPANS_PROPERTY) else ""
    )
    return json.loads(recorded) if recorded else [int(examples.span or 0)]


def split_files_pattern(examples, split: str) -> str:
    """The glob of one split's files in an Examples artifact."""
    from tfx.types import artifact_utils

    return os.path.join(artifact_utils.get_split_uri([examples], split), "*")


def load_statistics(statistics, split: str):
    """One split's statistics (a DatasetFeatureStatistics) from a StatisticsGen artifact (TFX's reader)."""
    from tfx.components.statistics_gen import stats_artifact_utils

    (dataset,) = stats_artifact_utils.load_statistics(statistics, split).proto().datasets
    return dataset


def read_statistics_file(path: str):
    """The one data set (a DatasetFeatureStatistics) of a FeatureStats.pb file."""
    from tensorflow_metadata.proto.v0 import statistics_pb2
    from tfx.dsl.io import fileio

    with fileio.open(path, "rb") as stream:
        (dataset,) = statistics_pb2.DatasetFeatureStatisticsList.FromString(stream.read()).datasets
    return dataset


def load_anomalies(anomalies, split: str):
    """One split's anomalies (an Anomalies proto) from an ExampleValidator artifact."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2
    from tfx.components.example_validator import executor as example_validator_executor
    from tfx.dsl.io import fileio
    from tfx.types import artifact_utils

    path = os.path.join(artifact_utils.get_split_uri([anomalies], split), example_validator_executor.DEFAULT_FILE_NAME)
    with fileio.open(path, "rb") as stream:
        return anomalies_pb2.Anomalies.FromString(stream.read())


def training_label_profile_path(model_uri: str) -> str:
    """Where a model artifact keeps the label profile of its newest span's training data (trainer/label_profile.py)."""
    return os.path.join(model_uri, TRAINING_STATISTICS_DIR, "label_profile.json")


def training_statistics_path(model_uri: str) -> str:
    """Where a model artifact keeps the statistics of its newest span's training data (named as TFX names them)."""
    from tfx.components.statistics_gen import stats_artifact_utils

    return os.path.join(model_uri, TRAINING_STATISTICS_DIR, stats_artifact_utils.BINARY_PB_BASENAME)
