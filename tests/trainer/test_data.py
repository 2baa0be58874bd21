"""The tf.data input pipeline: batch structure, passes, and sharding between workers."""

from __future__ import annotations

import pytest
import tensorflow as tf

from tests.conftest import taxi_task
from tests.trainer.conftest import UNCONVERTED_IN_DATASETS
from trainer import data, features, model
from trainer.data import ShardPolicy
from trainer.settings import TrainingSettings


@pytest.fixture(scope="module")
def transform(transformed):
    import tensorflow_transform as tft

    return data.transformer(tft.TFTransformOutput(transformed.transform_output))


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


def test_training_batches_have_the_model_inputs_and_an_int_label(transformed, transform):
    import tensorflow_transform as tft

    dataset = data.make_dataset(transformed.train_files, transform, batch_size=32, training=True)
    batch_features, labels = next(iter(dataset))
    sizes = data.vocabulary_sizes(tft.TFTransformOutput(transformed.transform_output), taxi_task())
    assert set(batch_features) == {item.name for item in model.model_inputs(taxi_task(), sizes)}
    assert labels.dtype == tf.int64 and tuple(labels.shape) == (32,)
    assert batch_features["fare_xf"].dtype == tf.float32 and batch_features["company_xf"].dtype == tf.int64
    assert all(tuple(value.shape) == (32,) for value in batch_features.values())
    assert features.LABEL_KEY not in batch_features


def test_training_repeats_and_evaluation_is_one_ordered_pass(transformed, transform):
    train = data.make_dataset(transformed.train_files, transform, batch_size=500, training=True)
    assert sum(1 for _ in train.take(20)) == 20  # 10 000 examples from 6 000: it repeats
    evaluation = data.make_dataset(transformed.eval_files, transform, batch_size=300, training=False)
    sizes = [int(labels.shape[0]) for _, labels in evaluation]
    assert sum(sizes) == 2000 and sizes[-1] == 2000 % 300
    again = [labels.numpy().tolist() for _, labels in evaluation]
    assert again == [labels.numpy().tolist() for _, labels in evaluation], "evaluation order must be stable"


def test_autograph_leaves_the_transform_layer_alone(transformed, transform, autograph_conversions):
    dataset = data.make_dataset(transformed.eval_files, transform, batch_size=64, training=False)
    next(iter(dataset))
    data.label_moments(transformed.eval_files, transform)
    assert autograph_conversions, "the spy saw no conversion: it no longer watches AutoGraph"
    assert not [module for module in autograph_conversions if module.startswith(UNCONVERTED_IN_DATASETS)]


@pytest.fixture(scope="module")
def numbered_files(tmp_path_factory) -> list[str]:
    """Two gzipped files of 1 000 examples each, every example carrying a unique id (its label)."""
    folder = tmp_path_factory.mktemp("numbered")
    paths = []
    for file_index in range(2):
        path = str(folder / f"part-{file_index}.gz")
        with tf.io.TFRecordWriter(path, options="GZIP") as writer:
            for offset in range(1000):
                example = tf.train.Example()
                example.features.feature[features.LABEL_KEY].int64_list.value.append(file_index * 1000 + offset)
                example.features.feature["x_xf"].float_list.value.append(0.5)
                writer.write(example.SerializeToString())
        paths.append(path)
    return paths


@pytest.mark.parametrize("num_pipelines", [2, 3], ids=["by_files", "by_records"])
def test_input_pipelines_split_the_data_without_overlap(numbered_files, num_pipelines):
    spec = {features.LABEL_KEY: tf.io.FixedLenFeature([], tf.int64), "x_xf": tf.io.FixedLenFeature([], tf.float32)}

    def parse(batch):  # the records are already the model's inputs
        return tf.io.parse_example(batch, spec)

    def ids(pipeline_id):
        context = tf.distribute.InputContext(num_pipelines, pipeline_id, num_pipelines)
        dataset = data.make_dataset(numbered_files, parse, 10 * num_pipelines, False, context)
        return [int(value) for _, labels in dataset for value in labels.numpy()]

    per_pipeline = [ids(i) for i in range(num_pipelines)]
    every_id = [value for values in per_pipeline for value in values]
    assert len(every_id) == len(set(every_id)), "an example was read by two input pipelines"
    assert set(every_id) == set(range(2000)), "an example was read by no input pipeline"
    assert data.choose_shard_policy(2, num_pipelines) is (
        ShardPolicy.FILES if num_pipelines == 2 else ShardPolicy.RECORDS
    )
    # Every pipeline gets a fair share: whole files (2 files, 2 pipelines) or every n-th record.
    assert min(len(values) for values in per_pipeline) > 2000 / num_pipelines * 0.8


def test_per_replica_batch_is_the_global_batch_split(transformed, transform):
    context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=0, num_replicas_in_sync=2)
    dataset = data.make_dataset(transformed.train_files, transform, batch_size=64, training=True, input_context=context)
    _, labels = next(iter(dataset))
    assert tuple(labels.shape) == (32,)


def test_no_matching_files_is_named(tmp_path, transform):
    with pytest.raises(FileNotFoundError, match="no input files match"):
        data.make_dataset([str(tmp_path / "nothing*")], transform, 8, training=False)


def test_count_examples_counts_every_record_of_the_split(transformed):
    assert data.count_examples(transformed.train_files) == 6000
    assert data.count_examples(transformed.eval_files) == 2000


@pytest.mark.parametrize(
    ("epochs", "cap", "expected"),
    [
        (None, 500, 500),  # no epochs: train_steps as before
        (1.0, 500, 47),  # ceil(6000 / 128)
        (2.5, 500, 118),  # ceil(2.5 * 6000 / 128)
        (20.0, 500, 500),  # capped at train_steps
    ],
)
def test_steps_follow_the_training_split_capped_at_train_steps(epochs, cap, expected):
    settings = TrainingSettings(train_steps=cap, train_epochs=epochs, batch_size=128)
    assert settings.steps_for(6000) == expected
