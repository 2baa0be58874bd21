"""A TFXIO for tf.Example TFRecords whose Beam source reads each file with TensorFlow, in batches.

tfx_bsl's TFExampleRecord reads through Beam's TFRecord source: a Python loop
with two CRCs per record and a Beam element per record, batched again before
decoding. Here each file is one Beam element (reshuffled, so a cluster runner
spreads the files over its workers); TensorFlow reads it in batches
(common/records.py) and each batch is decoded into one Arrow RecordBatch, as
TFExampleRecord's decoder does. Everything else (schema, projection, tensor
representations) is TFExampleRecord's. The fast StatisticsGen and Transform
executors read ExampleGen's splits through it.
"""

from __future__ import annotations

from collections.abc import Iterator

import apache_beam as beam
import pyarrow as pa
import tensorflow as tf
from tfx_bsl.coders import example_coder
from tfx_bsl.tfxio import record_based_tfxio

from common import records, tfx_compat

__all__ = ["DEFAULT_BATCH_SIZE", "BatchedTFExampleRecord"]

# Examples per RecordBatch when the caller asks for no size (Beam's adaptive batching stays under ~1000).
DEFAULT_BATCH_SIZE = 8192


class BatchedTFExampleRecord(tfx_compat.TFExampleRecordWithSource):
    """TFExampleRecord (same arguments) whose BeamSource reads files with TensorFlow in batches."""

    def read(self, file_pattern, schema, raw_record_column_name: str | None, batch_size: int | None):
        return _ReadRecordBatches(file_pattern, schema, raw_record_column_name, batch_size)


class _ReadRecordBatches(beam.PTransform):
    """Pipeline -> pa.RecordBatch of at most `batch_size` examples, file by file."""

    def __init__(self, file_pattern, schema, raw_record_column_name: str | None, batch_size: int | None):
        super().__init__()
        self._patterns = [file_pattern] if isinstance(file_pattern, str) else list(file_pattern)
        self._schema = schema.SerializeToString() if schema is not None else None
        self._raw_record_column_name = raw_record_column_name
        self._batch_size = batch_size or DEFAULT_BATCH_SIZE

    def expand(self, pipeline):
        files = sorted(tf.io.gfile.glob(self._patterns))
        return (
            pipeline
            | "ListFiles" >> beam.Create(files)
            | "SpreadFiles" >> beam.Reshuffle()
            | "ReadAndDecode"
            >> beam.ParDo(_ReadAndDecode(self._schema, self._raw_record_column_name, self._batch_size))
        )


class _ReadAndDecode(beam.DoFn):
    def __init__(self, schema: bytes | None, raw_record_column_name: str | None, batch_size: int):
        self._schema = schema
        self._raw_record_column_name = raw_record_column_name
        self._batch_size = batch_size

    def setup(self) -> None:
        if self._schema is None:
            self._decoder = example_coder.ExamplesToRecordBatchDecoder()
        else:
            self._decoder = example_coder.ExamplesToRecordBatchDecoder(self._schema)

    def process(self, path: str) -> Iterator[pa.RecordBatch]:
        for batch in records.read_batches(path, self._batch_size):
            examples = batch.tolist()
            decoded = self._decoder.DecodeBatch(examples)
            if self._raw_record_column_name is not None:
                decoded = record_based_tfxio.AppendRawRecordColumn(decoded, self._raw_record_column_name, examples)
            yield decoded
