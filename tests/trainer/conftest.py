"""Transformed sample data for the trainer tests, made by running preprocessing_fn on Beam in-process."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import random

import pytest

from pipelines import sample_data
from tests.conftest import SCHEMA_PATH


@dataclasses.dataclass(frozen=True)
class Transformed:
    """A transform graph and transformed train/eval TFRecords, like Transform's outputs."""

    transform_output: str
    train_files: list[str]
    eval_files: list[str]
    raw_eval_rows: list[dict[str, str]]


def serialized_examples(rows, drop=()) -> list[bytes]:
    """Raw serialized tf.Examples of CSV rows, without the columns in `drop`."""
    types = sample_data.column_types(str(SCHEMA_PATH))
    return [
        sample_data.to_example({k: v for k, v in row.items() if k not in drop}, types).SerializeToString()
        for row in rows
    ]


@pytest.fixture(scope="session")
def transformed(tmp_path_factory, sample_rows) -> Transformed:
    import apache_beam as beam
    import tensorflow as tf
    import tensorflow_transform.beam as tft_beam
    from tensorflow_data_validation import load_schema_text
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io
    from tfx_bsl.public import tfxio

    from trainer.preprocessing import preprocessing_fn

    root = tmp_path_factory.mktemp("transformed")
    rows = list(sample_rows)
    random.Random(7).shuffle(rows)
    splits = {"train": rows[:6000], "eval": rows[6000:8000]}
    schema = load_schema_text(str(SCHEMA_PATH))
    raw_paths = {}
    for split, split_rows in splits.items():
        raw_paths[split] = str(root / f"raw-{split}.tfrecord")
        with tf.io.TFRecordWriter(raw_paths[split]) as writer:
            for record in serialized_examples(split_rows):
                writer.write(record)

    transform_dir = str(root / "transform_graph")
    with beam.Pipeline() as pipeline, tft_beam.Context(temp_dir=str(root / "tmp")):
        sources = {
            split: tfxio.TFExampleRecord(file_pattern=path, schema=schema, telemetry_descriptors=["tests"])
            for split, path in raw_paths.items()
        }
        train = pipeline | "ReadTrain" >> sources["train"].BeamSource()
        (transformed_train, _), transform_fn = (
            train,
            sources["train"].TensorAdapterConfig(),
        ) | tft_beam.AnalyzeAndTransformDataset(preprocessing_fn, output_record_batches=True)
        eval_raw = pipeline | "ReadEval" >> sources["eval"].BeamSource()
        transformed_eval, _ = (
            (eval_raw, sources["eval"].TensorAdapterConfig()),
            transform_fn,
        ) | tft_beam.TransformDataset(output_record_batches=True)
        _ = transform_fn | tft_beam.WriteTransformFn(transform_dir)
        for split, data in (("train", transformed_train), ("eval", transformed_eval)):
            _ = (
                data
                | f"Encode{split}" >> beam.FlatMapTuple(lambda batch, _: _encode(batch))
                | f"Write{split}"
                >> beam.io.WriteToTFRecord(str(root / f"transformed-{split}"), file_name_suffix=".gz", num_shards=2)
            )
    # TFX's Transform also writes the raw data's metadata next to the graph; serving needs it.
    metadata_io.write_metadata(dataset_metadata.DatasetMetadata(schema), os.path.join(transform_dir, "metadata"))
    return Transformed(
        transform_output=transform_dir,
        train_files=[str(root / "transformed-train*")],
        eval_files=[str(root / "transformed-eval*")],
        raw_eval_rows=splits["eval"],
    )


def _encode(record_batch):
    """Serialises an Arrow record batch of transformed features as tf.Examples."""
    from tfx_bsl.coders import example_coder

    return example_coder.RecordBatchToExamplesEncoder().encode(record_batch)


@pytest.fixture
def job_dirs(tmp_path: pathlib.Path) -> dict[str, str]:
    return {
        "serving_model_dir": str(tmp_path / "serving_model"),
        "model_run_dir": str(tmp_path / "model_run"),
        "checkpoint_root": str(tmp_path / "checkpoints"),
    }
