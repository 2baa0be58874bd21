"""FastTransformExecutor: TFX's Transform, whose processor reads tf.Examples through the batched source.

That it writes TFX's transform graph is checked on the sample: tests/integration/test_local_pipeline.py
runs the pipeline with TFX's executors and with ours and compares the two graphs.
"""

from __future__ import annotations

import pytest
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.components.transform import executor as tfx_transform_executor
from tfx.proto import example_gen_pb2
from tfx_bsl.tfxio import tf_example_record

from components.batched_tfxio import BatchedTFExampleRecord
from components.transform import FastTransformExecutor
from components.transform.executor import SpanCachedTransformExecutor

GZIP = "tfrecords_gzip"  # examples_utils.get_file_format of ExampleGen's output


def _schema() -> schema_pb2.Schema:
    schema = schema_pb2.Schema()
    schema.feature.add(name="fare", type=schema_pb2.FLOAT)
    return schema


@pytest.mark.parametrize("executor", [FastTransformExecutor, SpanCachedTransformExecutor])
def test_tfxs_transform_runs_with_a_processor_that_reads_in_batches(tmp_path, monkeypatch, executor):
    made = []

    def stock_do(self, input_dict, output_dict, exec_properties):
        # What TFX's Do does: make its processor by the module-level name, which then makes a TFXIO per dataset.
        processor = tfx_transform_executor.TransformProcessor()
        dataset = tfx_transform_executor._Dataset(str(tmp_path / "*"), GZIP, example_gen_pb2.FORMAT_TF_EXAMPLE, None)
        made.append(processor._CreateTFXIO(dataset, _schema()))

    stock = tfx_transform_executor.TransformProcessor
    monkeypatch.setattr(tfx_transform_executor.Executor, "Do", stock_do)
    executor().Do({"examples": []}, {}, {})
    (tfxio,) = made
    assert isinstance(tfxio, BatchedTFExampleRecord)
    assert list(tfxio.raw_record_column_name or []) == [] and tfxio.telemetry_descriptors
    assert tfx_transform_executor.TransformProcessor is stock, "the stock processor is back"
    untouched = stock()._CreateTFXIO(
        tfx_transform_executor._Dataset(str(tmp_path / "*"), GZIP, example_gen_pb2.FORMAT_TF_EXAMPLE, None), _schema()
    )
    assert type(untouched) is tf_example_record.TFExampleRecord, "what TFX's processor makes, and ours replaces"
