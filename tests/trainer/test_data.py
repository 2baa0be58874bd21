"""The tf.data input pipeline: batch structure, passes, and sharding between workers."""

from __future__ import annotations

import pytest
import tensorflow as tf

from trainer import data, features, model
from trainer.data import ShardPolicy


@pytest.fixture(scope="module")
def feature_spec(transformed):
    import tensorflow_transform as tft

    return tft.TFTransformOutput(transformed.transform_output).transformed_feature_spec()


@pytest.mark.parametrize(
    ("num_files", "num_pipelines", "expected"),
    [
        (1, 1, ShardPolicy.NONE),
        (8, 1, ShardPolicy.NONE),
        (2, 2, ShardPolicy.FILES),
        (8, 3, ShardPolicy.FILES),
        (1, 2, ShardPolicy.RECORDS),
        (2, 3, ShardPolicy.RECORDS),
    ],
)
def test_shard_policy(num_files, num_pipelines, expected):
    assert data.choose_shard_policy(num_files, num_pipelines) is expected


def test_training_batches_have_the_model_inputs_and_an_int_label(transformed, feature_spec):
    dataset = data.make_dataset(transformed.train_files, feature_spec, batch_size=32, training=True)
    batch_features, labels = next(iter(dataset))
    assert set(batch_features) == set(model.input_names())
    assert labels.dtype == tf.int64 and tuple(labels.shape) == (32,)
    assert batch_features["fare_xf"].dtype == tf.float32 and batch_features["company_xf"].dtype == tf.int64
    assert all(tuple(value.shape) == (32,) for value in batch_features.values())
    assert features.LABEL_KEY not in batch_features


def test_training_repeats_and_evaluation_is_one_ordered_pass(transformed, feature_spec):
    train = data.make_dataset(transformed.train_files, feature_spec, batch_size=500, training=True)
    assert sum(1 for _ in train.take(20)) == 20  # 10 000 examples from 6 000: it repeats
    evaluation = data.make_dataset(transformed.eval_files, feature_spec, batch_size=300, training=False)
    sizes = [int(labels.shape[0]) for _, labels in evaluation]
    assert sum(sizes) == 2000 and sizes[-1] == 2000 % 300
    again = [labels.numpy().tolist() for _, labels in evaluation]
    assert again == [labels.numpy().tolist() for _, labels in evaluation], "evaluation order must be stable"


@pytest.mark.parametrize("num_pipelines", [2, 3], ids=["by_files", "by_records"])
def test_input_pipelines_split_the_data_without_overlap(transformed, feature_spec, num_pipelines):
    def fares(pipeline_id):
        context = tf.distribute.InputContext(num_pipelines, pipeline_id, num_pipelines)
        dataset = data.make_dataset(transformed.eval_files, feature_spec, 10 * num_pipelines, False, context)
        return [round(float(v), 6) for batch, _ in dataset for v in batch["fare_xf"].numpy()]

    per_pipeline = [fares(i) for i in range(num_pipelines)]
    assert sum(len(values) for values in per_pipeline) == 2000
    # Every pipeline gets a fair share: whole files (2 files, 2 pipelines) or every n-th record.
    assert min(len(values) for values in per_pipeline) > 2000 / num_pipelines * 0.8


def test_per_replica_batch_is_the_global_batch_split(transformed, feature_spec):
    context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=0, num_replicas_in_sync=2)
    dataset = data.make_dataset(
        transformed.train_files, feature_spec, batch_size=64, training=True, input_context=context
    )
    _, labels = next(iter(dataset))
    assert tuple(labels.shape) == (32,)


def test_no_matching_files_is_named(tmp_path, feature_spec):
    with pytest.raises(FileNotFoundError, match="no input files match"):
        data.make_dataset([str(tmp_path / "nothing*")], feature_spec, 8, training=False)
