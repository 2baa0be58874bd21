"""BatchedTFExampleRecord: the RecordBatches of tfx_bsl's TFExampleRecord, read by TensorFlow in batches."""

from __future__ import annotations

import os
import pathlib
import shutil
import tempfile
import uuid

import apache_beam as beam
import pyarrow as pa
import pytest
import tensorflow as tf
from tensorflow.core.example import example_pb2
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx_bsl.tfxio import tf_example_record

from components.batched_tfxio import BatchedTFExampleRecord

RAW = "raw_record"


def _example(index: int) -> bytes:
    example = example_pb2.Example()
    if index % 7:  # every seventh example has no fare
        example.features.feature["fare"].float_list.value.append(index * 0.5)
    example.features.feature["payment"].bytes_list.value.append(b"Cash" if index % 3 else b"Card")
    example.features.feature["trips"].int64_list.value.extend(range(index % 4))
    return example.SerializeToString()


@pytest.fixture(scope="module")
def examples(tmp_path_factory) -> tuple[str, list[bytes]]:
    """Two gzipped files of 1 250 examples each, as ExampleGen writes a split."""
    folder = tmp_path_factory.mktemp("examples")
    records = [_example(index) for index in range(2500)]
    for shard in range(2):
        with tf.io.TFRecordWriter(str(folder / f"data_tfrecord-{shard:05d}-of-00002.gz"), options="GZIP") as writer:
            for record in records[shard * 1250 : (shard + 1) * 1250]:
                writer.write(record)
    return str(folder / "*"), records


def _schema() -> schema_pb2.Schema:
    schema = schema_pb2.Schema()
    for name, kind in (("fare", schema_pb2.FLOAT), ("payment", schema_pb2.BYTES), ("trips", schema_pb2.INT)):
        schema.feature.add(name=name, type=kind)
    return schema


class _WriteBatch(beam.DoFn):
    """Each RecordBatch to its own Arrow file: the runner's workers share no memory with the test."""

    def __init__(self, folder: str):
        self._folder = folder

    def process(self, batch: pa.RecordBatch):
        with pa.OSFile(os.path.join(self._folder, uuid.uuid4().hex), "wb") as sink:
            with pa.ipc.new_file(sink, batch.schema) as writer:
                writer.write_batch(batch)


def _batches(source, batch_size: int | None = None) -> list[pa.RecordBatch]:
    folder = tempfile.mkdtemp()
    try:
        with beam.Pipeline() as pipeline:
            _ = pipeline | source.BeamSource(batch_size) | beam.ParDo(_WriteBatch(folder))
        return [pa.ipc.open_file(os.path.join(folder, name)).get_batch(0) for name in sorted(os.listdir(folder))]
    finally:
        shutil.rmtree(folder)


def _rows(batches: list[pa.RecordBatch]) -> list[dict]:
    """Every row, in a fixed order; a column a batch lacks is None (inferred types: no example had it)."""
    columns = sorted({name for batch in batches for name in batch.schema.names})
    rows = [{name: row.get(name) for name in columns} for batch in batches for row in batch.to_pylist()]
    return sorted(rows, key=repr)


@pytest.mark.parametrize("schema", [None, _schema()], ids=["inferred-types", "schema"])
def test_the_record_batches_are_those_of_tf_example_record(examples, schema):
    pattern, _ = examples
    arguments = {"file_pattern": pattern, "schema": schema, "raw_record_column_name": RAW}
    ours = _batches(BatchedTFExampleRecord(**arguments, telemetry_descriptors=["test"]))
    stock = _batches(tf_example_record.TFExampleRecord(**arguments, telemetry_descriptors=["test"]))
    assert _rows(ours) == _rows(stock)
    assert len(_rows(ours)) == 2500
    if schema is not None:  # then every batch has the schema's columns and types
        assert all(batch.schema.equals(stock[0].schema) for batch in ours + stock)


def test_each_file_is_read_in_batches_of_at_most_the_batch_size(examples):
    pattern, records = examples
    batches = _batches(BatchedTFExampleRecord(pattern, raw_record_column_name=RAW), batch_size=500)
    assert sorted(batch.num_rows for batch in batches) == [250, 250, 500, 500, 500, 500]
    assert sorted(raw for batch in batches for (raw,) in batch.column(RAW).to_pylist()) == sorted(records)


def test_a_projection_is_read_in_batches_too(examples):
    pattern, _ = examples
    projected = BatchedTFExampleRecord(pattern, schema=_schema()).Project(["fare"])
    assert isinstance(projected.projected, BatchedTFExampleRecord)
    (first, *_) = _batches(projected)
    assert first.schema.names == ["fare"]


def test_an_empty_split_gives_no_batches(tmp_path):
    assert _batches(BatchedTFExampleRecord(str(tmp_path / "*"))) == []


def test_the_files_are_listed_when_the_pipeline_is_built(tmp_path):
    source = BatchedTFExampleRecord(str(pathlib.Path(tmp_path) / "*.gz"))
    with tf.io.TFRecordWriter(str(tmp_path / "late.gz"), options="GZIP") as writer:
        writer.write(_example(1))
    assert sum(batch.num_rows for batch in _batches(source)) == 1
