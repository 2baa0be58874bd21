"""tf.data input over ExampleGen's gzipped TFRecords, sharded correctly for several workers.

Transform writes no transformed copy of the data: each batch of raw records is
parsed and put through the Transform graph here (`transformer`), the same graph
the exported model applies to serving requests. Files are read through
common/records.py (a parallel interleave, each file in blocks of records);
records are batched before parsing (one vectorised `parse_example` and one
graph call per batch instead of one per record); everything is prefetched and
tuned with AUTOTUNE.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence

import tensorflow as tf

from common import records
from trainer import features
from trainer.features import FeatureKind, TaskSpec
from trainer.preprocessing import NUM_OOV_BUCKETS

__all__ = [
    "ShardPolicy",
    "choose_shard_policy",
    "class_names",
    "label_moments",
    "make_dataset",
    "transformer",
    "vocabularies",
    "vocabulary_sizes",
]

_SHUFFLE_BUFFER = 10_000

# A batch of serialized raw tf.Examples -> the transformed features, label included.
Transform = Callable[[tf.Tensor], dict]


class ShardPolicy(enum.Enum):
    """How the input is split between input pipelines (one per worker)."""

    NONE = "none"  # a single pipeline reads everything
    FILES = "files"  # each pipeline reads whole files: no wasted reads
    RECORDS = "records"  # each reads every n-th record: works with fewer files than pipelines


def choose_shard_policy(num_files: int, num_input_pipelines: int) -> ShardPolicy:
    """Shards by file when every pipeline gets at least one file, else by record."""
    if num_input_pipelines <= 1:
        return ShardPolicy.NONE
    return ShardPolicy.FILES if num_files >= num_input_pipelines else ShardPolicy.RECORDS


def transformer(tf_transform_output) -> Transform:
    """Parses a batch of serialized raw tf.Examples and applies the Transform graph to it.

    The result holds the model inputs and the label as the preprocessing_fn
    computes them: the values Transform would have written, from the graph
    the exported model serves with.

    Args:
      tf_transform_output: A `tft.TFTransformOutput` of the Transform graph.
    """
    layer = tf_transform_output.transform_features_layer()
    raw_spec = tf_transform_output.raw_feature_spec()

    # Not converted by AutoGraph: no Python control flow on tensors here, and converting the
    # tf_keras layer's __call__ and TFT's code under it takes seconds for every dataset built.
    @tf.autograph.experimental.do_not_convert
    def transform(serialized: tf.Tensor) -> dict:
        return layer(tf.io.parse_example(serialized, raw_spec))

    return transform


def make_dataset(
    file_patterns: Sequence[str],
    transform: Transform,
    batch_size: int,
    training: bool,
    input_context: tf.distribute.InputContext | None = None,
    seed: int = 42,
) -> tf.data.Dataset:
    """Batches of (transformed features, label) from raw examples.

    Args:
      file_patterns: Globs of TFRecord files of raw tf.Examples (ExampleGen's splits).
      transform: From `transformer`: a batch of serialized examples to transformed features, label included.
      batch_size: The global batch size; each input pipeline gets its share.
      training: Shuffle and repeat forever (training), or one ordered pass (evaluation).
      input_context: From `distribute_datasets_from_function`; None for one pipeline.
      seed: Shuffle seed; the same on every worker so file order agrees before sharding.

    Returns:
      A dataset of (dict of feature tensors, label tensor).
    """
    files = records.list_files(file_patterns)
    num_pipelines = input_context.num_input_pipelines if input_context else 1
    pipeline_id = input_context.input_pipeline_id if input_context else 0
    per_pipeline_batch = input_context.get_per_replica_batch_size(batch_size) if input_context else batch_size
    policy = choose_shard_policy(len(files), num_pipelines)

    dataset = tf.data.Dataset.from_tensor_slices(files)
    if policy is ShardPolicy.FILES:
        dataset = dataset.shard(num_pipelines, pipeline_id)
    if training:
        dataset = dataset.shuffle(len(files), seed=seed)
    dataset = records.read_records(dataset, deterministic=not training)
    if policy is ShardPolicy.RECORDS:
        dataset = dataset.shard(num_pipelines, pipeline_id)
    if training:
        dataset = dataset.shuffle(_SHUFFLE_BUFFER, seed=seed + pipeline_id).repeat()
    dataset = dataset.batch(per_pipeline_batch, drop_remainder=training)
    dataset = dataset.map(
        lambda serialized: _split_label(transform(serialized)),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    return dataset.prefetch(tf.data.AUTOTUNE)


def _split_label(parsed: dict) -> tuple[dict, tf.Tensor]:
    label = parsed.pop(features.LABEL_KEY)
    return parsed, label


def vocabulary_sizes(tf_transform_output, task: TaskSpec) -> dict[str, int]:
    """Number of ids of each categorical or bucketized model input, from Transform's output.

    Args:
      tf_transform_output: A `tft.TFTransformOutput` of the Transform graph.
      task: The resolved task the graph was built for.
    """
    sizes = {}
    for feature in task.features:
        name = features.transformed_name(feature.name)
        if feature.kind is FeatureKind.BUCKETIZED:
            sizes[name] = feature.num_buckets + 1  # + "missing"
        elif feature.kind is FeatureKind.CATEGORICAL:
            vocabulary = features.vocabulary_name(feature.name)
            sizes[name] = tf_transform_output.vocabulary_size_by_name(vocabulary) + NUM_OOV_BUCKETS
    return sizes


def vocabularies(tf_transform_output, task: TaskSpec) -> dict[str, list[str]]:
    """The tokens of each categorical input's vocabulary (by transformed name), in id order."""
    return {
        features.transformed_name(feature.name): [
            token.decode("utf-8", "replace")
            for token in tf_transform_output.vocabulary_by_name(features.vocabulary_name(feature.name))
        ]
        for feature in task.features
        if feature.kind is FeatureKind.CATEGORICAL
    }


def class_names(tf_transform_output) -> list[str]:
    """A classification label's classes, in class-id order (its vocabulary from Transform)."""
    return [value.decode("utf-8") for value in tf_transform_output.vocabulary_by_name(features.LABEL_VOCABULARY)]


def count_examples(file_patterns: Sequence[str], batch_size: int = 8192) -> int:
    """The number of records in TFRecord files: one pass, parsing nothing.

    Raises:
      FileNotFoundError: If no file matches.
    """
    count = (
        records.read_records(records.list_files(file_patterns))
        .batch(batch_size)
        .reduce(tf.constant(0, tf.int64), lambda total, batch: total + tf.size(batch, out_type=tf.int64))
    )
    return int(count)


def label_moments(file_patterns: Sequence[str], transform: Transform, batch_size: int = 8192) -> tuple[float, float]:
    """Mean and standard deviation of the transformed label over raw examples: one pass.

    Args:
      file_patterns: Globs of TFRecord files of raw tf.Examples.
      transform: From `transformer`; its label is what is averaged.
      batch_size: Records per graph call.

    Raises:
      FileNotFoundError: If no file matches.
      ValueError: If the files hold no example.
    """
    files = records.list_files(file_patterns)
    dataset = (
        records.read_records(files)
        .batch(batch_size)
        .map(
            lambda batch: tf.cast(transform(batch)[features.LABEL_KEY], tf.float32), num_parallel_calls=tf.data.AUTOTUNE
        )
    )
    count, total, squares = dataset.reduce(
        (tf.constant(0.0, tf.float64), tf.constant(0.0, tf.float64), tf.constant(0.0, tf.float64)),
        lambda state, labels: (
            state[0] + tf.cast(tf.size(labels), tf.float64),
            state[1] + tf.reduce_sum(tf.cast(labels, tf.float64)),
            state[2] + tf.reduce_sum(tf.square(tf.cast(labels, tf.float64))),
        ),
    )
    count, total, squares = float(count), float(total), float(squares)
    if not count:
        raise ValueError(f"no examples in {files}")
    mean = total / count
    return mean, max(squares / count - mean * mean, 0.0) ** 0.5
