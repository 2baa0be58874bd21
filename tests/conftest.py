"""Shared fixtures: the repo's real config and schema, sample and transformed data in temporary folders.

`transformed` analyses 6 000 sample rows with our preprocessing_fn on Beam
in-process and writes the transform graph and the raw examples (train and
eval) laid out like the Transform and ExampleGen artifacts the Trainer reads.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import pathlib
import random

import pytest

from pipelines import config as config_lib
from pipelines import sample_data
from trainer import features

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
LOCAL_CONFIG = REPO_ROOT / "pipelines" / "configs" / "local.yaml"
SCHEMA_PATH = REPO_ROOT / "schemas" / "taxi" / "schema.pbtxt"
DRIFT_THRESHOLDS_PATH = REPO_ROOT / "schemas" / "taxi" / "drift.yaml"


@pytest.fixture(scope="session")
def sample_rows() -> list[dict[str, str]]:
    """The 15k rows of the taxi sample CSV, as strings."""
    return sample_data.read_rows()


def build_config(
    input_dir: os.PathLike[str],
    output_dir: os.PathLike[str],
    *overrides: str,
    check_local_paths: bool = True,
    input_format: str = "tfrecord",
) -> config_lib.PipelineConfig:
    """Loads the real local.yaml with input under input_dir/<format> and outputs under output_dir."""
    input_dir, output_dir = pathlib.Path(input_dir), pathlib.Path(output_dir)
    return config_lib.load_config(
        LOCAL_CONFIG, config_overrides(input_dir, output_dir, *overrides, input_format=input_format), check_local_paths
    )


def config_overrides(
    input_dir: pathlib.Path, output_dir: pathlib.Path, *overrides: str, input_format: str = "tfrecord"
) -> list[str]:
    """The `--set` overrides behind build_config, for tests that go through a command line."""
    return [
        f"input.format={input_format}",
        f"input.path={input_dir / input_format}",
        f"validation.schema_path={SCHEMA_PATH}",
        f"validation.drift_thresholds={DRIFT_THRESHOLDS_PATH}",
        f"pipeline.root={output_dir / 'pipeline_root'}",
        f"pipeline.metadata_path={output_dir / 'metadata.sqlite'}",
        f"pipeline.log_dir={output_dir / 'logs'}",
        f"pusher.serving_root={output_dir / 'serving'}",
        *overrides,
    ]


def node_executions(config: config_lib.PipelineConfig) -> dict[str, list[str]]:
    """Execution states recorded in ML Metadata, by component id, oldest first."""
    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = config.pipeline.metadata_path
    store = metadata_store.MetadataStore(connection)
    prefix = f"{config.pipeline.name}."
    result = {}
    for context in store.get_contexts_by_type("node"):
        if context.name.startswith(prefix):
            executions = sorted(store.get_executions_by_context(context.id), key=lambda e: e.id)
            result[context.name[len(prefix) :]] = [
                metadata_store_pb2.Execution.State.Name(e.last_known_state) for e in executions
            ]
    return result


def write_input(input_dir: pathlib.Path, rows: list[dict[str, str]], formats=("tfrecord", "csv")) -> None:
    """Writes rows as span-1 under input_dir/<format> for each format."""
    for input_format in formats:
        input_config = config_lib.load_config(
            LOCAL_CONFIG,
            [f"input.format={input_format}", f"input.path={input_dir / input_format}"],
            check_local_paths=False,
        ).input
        sample_data.write_spans([rows], input_config, sample_data.column_types(str(SCHEMA_PATH)))


def assert_same_statistics(ours, theirs, label: str = "") -> None:
    """Two DatasetFeatureStatisticsLists describe every feature alike (readers look features up by path).

    TFDV lists features in the order it first met them, which follows the order of the rows.
    """
    from google.protobuf import json_format

    def by_feature(statistics) -> list:
        datasets = json_format.MessageToDict(statistics)["datasets"]
        for dataset in datasets:
            dataset["features"] = sorted(dataset["features"], key=lambda feature: feature["path"]["step"])
        return datasets

    assert_same_fields(by_feature(ours), by_feature(theirs), label)


def assert_same_fields(ours, theirs, path: str = "") -> None:
    """Two protos' dicts (json_format.MessageToDict) are equal field by field, floats to 1e-12 relative.

    The tolerance covers a sum taken in another order, which differs in the last digit.
    """
    if isinstance(theirs, dict):
        assert sorted(ours) == sorted(theirs), path
        for key in theirs:
            assert_same_fields(ours[key], theirs[key], f"{path}.{key}")
    elif isinstance(theirs, list):
        assert len(ours) == len(theirs), path
        for index, (mine, other) in enumerate(zip(ours, theirs, strict=True)):
            assert_same_fields(mine, other, f"{path}[{index}]")
    elif isinstance(theirs, float):
        assert ours == pytest.approx(theirs, rel=1e-12), path
    else:
        assert ours == theirs, path


@functools.cache
def taxi_task() -> features.TaskSpec:
    """The sample's task as the pipeline resolves it from local.yaml and the taxi schema."""
    config = config_lib.load_config(LOCAL_CONFIG, check_local_paths=False)
    return features.resolve_task(features.load_schema(str(SCHEMA_PATH)), config.task, str(SCHEMA_PATH))


def task_config(task: features.TaskSpec | None = None) -> dict:
    """A custom_config holding a resolved task, as the pipeline passes it to Transform, Tuner and Trainer."""
    return {features.TASK_KEY: (task or taxi_task()).model_dump(mode="json")}


@dataclasses.dataclass(frozen=True)
class Transformed:
    """A transform graph and raw examples laid out as Transform's and ExampleGen's artifacts."""

    transform_output: str
    examples_uri: str  # holds Split-train/ and Split-eval/ (gzipped raw tf.Examples, two files each), like ExampleGen's
    train_files: list[str]
    eval_files: list[str]
    raw_eval_rows: list[dict[str, str]]


def serialized_examples(rows, drop=()) -> list[bytes]:
    """Raw serialized tf.Examples of CSV rows, without the columns in `drop`."""
    types = sample_data.column_types(str(SCHEMA_PATH))
    return [sample_data.serialize({k: v for k, v in row.items() if k not in drop}, types) for row in rows]


@pytest.fixture(scope="session")
def transformed(tmp_path_factory, sample_rows) -> Transformed:
    return make_transformed(tmp_path_factory.mktemp("transformed"), sample_rows)


def make_transformed(root: pathlib.Path, sample_rows: list[dict[str, str]]) -> Transformed:
    """Analyses 6 000 shuffled sample rows (the train split; 2 000 more are eval) with the preprocessing_fn."""
    import apache_beam as beam
    import tensorflow as tf
    import tensorflow_transform.beam as tft_beam
    from tensorflow_data_validation import load_schema_text
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io
    from tfx_bsl.public import tfxio

    root.mkdir(parents=True, exist_ok=True)  # benchmarks pass a fresh path; tmp_path_factory's exists

    from trainer.preprocessing import preprocessing_fn

    preprocess = functools.partial(preprocessing_fn, custom_config=task_config())
    rows = list(sample_rows)
    random.Random(7).shuffle(rows)
    splits = {"train": rows[:6000], "eval": rows[6000:8000]}
    schema = load_schema_text(str(SCHEMA_PATH))
    examples = root / "examples"
    for split, split_rows in splits.items():
        records = serialized_examples(split_rows)
        (examples / f"Split-{split}").mkdir(parents=True)
        for shard in range(2):
            path = examples / f"Split-{split}" / f"data_tfrecord-{shard:05d}-of-00002.gz"
            with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
                for record in records[shard::2]:
                    writer.write(record)

    transform_dir = str(root / "transform_graph")
    with beam.Pipeline() as pipeline, tft_beam.Context(temp_dir=str(root / "tmp")):
        source = tfxio.TFExampleRecord(
            file_pattern=str(examples / "Split-train" / "*"), schema=schema, telemetry_descriptors=["tests"]
        )
        train = pipeline | "ReadTrain" >> source.BeamSource()
        transform_fn = (train, source.TensorAdapterConfig()) | tft_beam.AnalyzeDataset(preprocess)
        _ = transform_fn | tft_beam.WriteTransformFn(transform_dir)
    # TFX's Transform also writes the raw data's metadata next to the graph; serving needs it.
    metadata_io.write_metadata(dataset_metadata.DatasetMetadata(schema), os.path.join(transform_dir, "metadata"))
    return Transformed(
        transform_output=transform_dir,
        examples_uri=str(examples),
        train_files=[str(examples / "Split-train" / "*")],
        eval_files=[str(examples / "Split-eval" / "*")],
        raw_eval_rows=splits["eval"],
    )
