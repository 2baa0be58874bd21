"""ImportExampleGen's work (read TFRecords, hash-split, shuffle, write gzipped shards) with batches as Beam's elements.

TFX's ImportExampleGen makes every record a Beam element through four steps
(read, partition, reshuffle, write): about 200 µs a record on the in-memory
runner, five minutes for 1.5M rows. Here a file is read by TensorFlow in
batches of records; each batch is split into (split, shard) groups in one
Python loop; Beam groups those lists by (split, shard), and each group is
written as one gzipped TFRecord file. It stays a Beam pipeline, so a cluster
runner reads the files and writes the shards in parallel.

What it keeps from TFX: the partition (sha256 of the serialized record, modulo
the total hash buckets: the same rows land in train and eval as before) and
the file layout (`Split-<name>/data_tfrecord-SSSSS-of-NNNNN.gz`). What it
changes: the order within a split is the order of the records' sha256
digests rather than a random reshuffle, so it is shuffled (the input's time
order is gone) and the same on every run.
"""

from __future__ import annotations

import bisect
import hashlib
import os
from collections.abc import Iterator, Mapping, Sequence

import apache_beam as beam
import tensorflow as tf

__all__ = ["ImportAndSplit", "empty_split_file", "partition_of", "shard_file_name"]

# Records TensorFlow reads per batch: one Beam element per (split, shard) per batch.
_READ_BATCH = 65536


def partition_of(digest: bytes, buckets: Sequence[int]) -> int:
    """The split index TFX's ExampleGen gives a record with this sha256 digest (its `_PartitionFn`).

    Args:
      digest: sha256 of the serialized record.
      buckets: Cumulative hash buckets of the splits, e.g. [2, 3] for 2 train, 1 eval.
    """
    return bisect.bisect(buckets, int.from_bytes(digest, "big") % buckets[-1])


def shard_file_name(shard: int, num_shards: int) -> str:
    """TFX's name for one shard of a split."""
    return f"data_tfrecord-{shard:05d}-of-{num_shards:05d}.gz"


def empty_split_file() -> str:
    """The file an empty split gets (TFX's writer leaves one empty shard too)."""
    return shard_file_name(0, 1)


class ImportAndSplit(beam.PTransform):
    """(split names, file) pairs -> written shards, as (split name, number of records) per shard.

    Each file's records are partitioned into the split names of its pair
    (one name per hash split, in the order of `buckets`).
    """

    def __init__(self, buckets: Sequence[int], split_uris: Mapping[str, str], num_shards: int):
        super().__init__()
        self._buckets = list(buckets)
        self._split_uris = dict(split_uris)
        self._num_shards = num_shards

    def expand(self, sources):
        return (
            sources
            | "ReadAndPartition" >> beam.ParDo(_ReadAndPartition(self._buckets, self._num_shards))
            | "GroupByShard" >> beam.GroupByKey()
            | "WriteShard" >> beam.ParDo(_WriteShard(self._split_uris, self._num_shards))
        )


class _ReadAndPartition(beam.DoFn):
    def __init__(self, buckets: list[int], num_shards: int):
        self._buckets = buckets
        self._num_shards = num_shards

    def process(self, source: tuple[Sequence[str], str]) -> Iterator[tuple[tuple[str, int], list[bytes]]]:
        names, path = source
        for batch in _read_batches(path):
            groups: dict[tuple[str, int], list[bytes]] = {}
            for record in batch:
                digest = hashlib.sha256(record).digest()
                # The shard from the digest's leading bytes: independent of the split's remainder.
                key = (names[partition_of(digest, self._buckets)], int.from_bytes(digest[:8], "big") % self._num_shards)
                groups.setdefault(key, []).append(record)
            yield from groups.items()


class _WriteShard(beam.DoFn):
    def __init__(self, split_uris: dict[str, str], num_shards: int):
        self._split_uris = split_uris
        self._num_shards = num_shards

    def process(self, element) -> Iterator[tuple[str, int]]:
        (name, shard), batches = element
        records = [record for batch in batches for record in batch]
        # A fixed pseudo-random order: the input's order is gone, and a re-run writes the same bytes.
        records.sort(key=lambda record: hashlib.sha256(record).digest()[8:])
        path = os.path.join(self._split_uris[name], shard_file_name(shard, self._num_shards))
        # Written beside, then renamed: a retried bundle never leaves half a shard under the final name.
        partial = f"{path}.partial"
        with tf.io.TFRecordWriter(partial, options="GZIP") as writer:
            for record in records:
                writer.write(record)
        tf.io.gfile.rename(partial, path, overwrite=True)
        yield name, len(records)


def _read_batches(path: str) -> Iterator:
    # As TFX's reader: gzip when the name ends in .gz.
    dataset = tf.data.TFRecordDataset(path, compression_type="GZIP" if path.endswith(".gz") else "")
    return dataset.batch(_READ_BATCH).as_numpy_iterator()
