"""FastTransformExecutor: TFX's Transform reading in batches writes the graph TFX's own executor writes."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from tfx.components.transform import executor as tfx_transform_executor
from tfx.proto import transform_pb2
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import proto_utils

from components.batched_tfxio import BatchedTFExampleRecord
from components.transform import FastTransformExecutor
from tests.conftest import SCHEMA_PATH, serialized_examples, task_config
from trainer.preprocessing import preprocessing_fn


def _run(tmp_path, transformed, executor) -> str:
    """Runs a Transform executor over the fixture's raw train split, as the pipeline configures it."""
    examples = standard_artifacts.Examples()
    examples.uri = transformed.examples_uri
    examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
    examples.set_string_custom_property("file_format", "tfrecords_gzip")
    examples.set_string_custom_property("payload_format", "FORMAT_TF_EXAMPLE")
    schema = standard_artifacts.Schema()
    schema.uri = os.path.dirname(SCHEMA_PATH)
    graph = standard_artifacts.TransformGraph()
    graph.uri = str(tmp_path / "transform_graph")
    properties = {
        "preprocessing_fn": f"{preprocessing_fn.__module__}.{preprocessing_fn.__qualname__}",
        "custom_config": json.dumps(task_config()),
        "splits_config": proto_utils.proto_to_json(transform_pb2.SplitsConfig(analyze=["train"])),
        "force_tf_compat_v1": 0,
        "disable_statistics": 1,
    }
    executor().Do({"examples": [examples], "schema": [schema]}, {"transform_graph": [graph]}, properties)
    return graph.uri


@pytest.mark.integration
def test_the_fast_executor_reads_in_batches_and_writes_tfxs_graph(tmp_path, transformed, monkeypatch):
    import tensorflow_transform as tft

    reads = []
    read = BatchedTFExampleRecord.read
    monkeypatch.setattr(BatchedTFExampleRecord, "read", lambda self, *args: reads.append(args) or read(self, *args))
    ours = tft.TFTransformOutput(_run(tmp_path / "ours", transformed, FastTransformExecutor))
    assert reads, "the fast executor read through the batched source"
    count = len(reads)
    theirs = tft.TFTransformOutput(_run(tmp_path / "tfx", transformed, tfx_transform_executor.Executor))
    assert len(reads) == count, "TFX's executor did not"

    for name in ours.transformed_metadata.schema.feature:
        assert name in theirs.transformed_metadata.schema.feature
    for vocabulary in preprocessing_vocabularies():
        assert ours.vocabulary_by_name(vocabulary) == theirs.vocabulary_by_name(vocabulary), vocabulary
    batch = serialized_examples(transformed.raw_eval_rows[:256])
    import tensorflow as tf

    raw = tf.io.parse_example(tf.constant(batch), ours.raw_feature_spec())
    mine, other = ours.transform_features_layer()(raw), theirs.transform_features_layer()(raw)
    assert sorted(mine) == sorted(other)
    for key in mine:
        # Means and variances summed in another order differ in float32's last digits.
        np.testing.assert_allclose(_dense(mine[key]), _dense(other[key]), rtol=1e-5, atol=1e-5, err_msg=key)


def preprocessing_vocabularies() -> list[str]:
    """The vocabulary files the sample's preprocessing_fn writes, one per categorical input."""
    from tests.conftest import taxi_task
    from trainer import features

    return [
        features.vocabulary_name(feature.name)
        for feature in taxi_task().features
        if feature.kind is features.FeatureKind.CATEGORICAL
    ]


def _dense(tensor):
    import tensorflow as tf

    if isinstance(tensor, tf.SparseTensor):
        tensor = tf.sparse.to_dense(tensor)
    return tensor.numpy()
