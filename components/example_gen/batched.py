"""ImportExampleGen's work (read TFRecords, hash-split, shuffle, write gzipped shards) with batches as Beam's elements.

TFX's ImportExampleGen makes every record a Beam element through four steps
(read, partition, reshuffle, write). Here a file is read by TensorFlow in
batches of records; each batch is split into (split, shard) groups in one
Python loop and each group is appended to that (split, shard)'s spill file of
the bundle (plain TFRecords in `spill_dir`); Beam groups the spill files'
names by (split, shard), and each group's records are read back, ordered and
written as one gzipped TFRecord file. Only file names go through Beam's
grouping: the in-memory runner, which holds everything it groups, holds no
records (grouping the records themselves would hold the whole span), and
memory stays one read batch plus one shard whatever the span's size. It
stays a Beam pipeline, so a cluster runner reads the files and writes the
shards in parallel (`spill_dir` must then be on storage every worker sees, as
the output is).

What it keeps from TFX: the partition (sha256 of the serialized record, modulo
the total hash buckets: the same rows land in train and eval as with TFX) and
the file layout (`Split-<name>/data_tfrecord-SSSSS-of-NNNNN.gz`). What it
changes: the order within a split is the order of the records' sha256
digests rather than a random reshuffle, so it is shuffled (the input's time
order is gone) and the same on every run.
"""

from __future__ import annotations

import bisect
import hashlib
import os
import uuid
from collections.abc import Iterator, Mapping, Sequence

import apache_beam as beam
import tensorflow as tf
from apache_beam.transforms import window
from apache_beam.utils.windowed_value import WindowedValue

from common import records
from components.example_gen import diagnose

__all__ = ["ImportAndSplit", "empty_split_file", "partition_of", "shard_file_name"]

# Records TensorFlow reads per batch: one Beam element per (split, shard) per batch.
_READ_BATCH = 65536


def partition_of(digest: bytes, buckets: Sequence[int]) -> int:
    """The split index TFX's ExampleGen gives a record with this sha256 digest (no partition feature).

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
    (one name per hash split, in the order of `buckets`). The records pass
    through spill files in `spill_dir`, which the caller removes once the
    pipeline has run (a retried bundle's files are left there too).
    """

    def __init__(self, buckets: Sequence[int], split_uris: Mapping[str, str], num_shards: int, spill_dir: str):
        super().__init__()
        self._buckets = list(buckets)
        self._split_uris = dict(split_uris)
        self._num_shards = num_shards
        self._spill_dir = spill_dir

    def expand(self, sources):
        return (
            sources
            | "ReadAndSpill" >> beam.ParDo(_ReadAndSpill(self._buckets, self._num_shards, self._spill_dir))
            | "GroupByShard" >> beam.GroupByKey()
            | "WriteShard" >> beam.ParDo(_WriteShard(self._split_uris, self._num_shards))
        )


class _ReadAndSpill(beam.DoFn):
    """Appends each record to its (split, shard)'s spill file of this bundle; emits the files when the bundle ends."""

    def __init__(self, buckets: list[int], num_shards: int, spill_dir: str):
        self._buckets = buckets
        self._num_shards = num_shards
        self._spill_dir = spill_dir

    def start_bundle(self) -> None:
        self._bundle = uuid.uuid4().hex  # a retried bundle writes new files; only a committed one's are emitted
        self._writers: dict[tuple[str, int], tf.io.TFRecordWriter] = {}

    def process(self, source: tuple[Sequence[str], str]) -> None:
        names, path = source
        for index, batch in enumerate(records.read_batches(path, _READ_BATCH)):
            if index == 0 and len(batch) and not diagnose.is_example(batch[0]):
                # ExampleGen's caller then reads the files again to name every bad one and why.
                raise ValueError(f"{path}: {diagnose.NOT_AN_EXAMPLE}")
            for record in batch:
                digest = hashlib.sha256(record).digest()
                # The shard from the digest's leading bytes: independent of the split's remainder.
                key = (names[partition_of(digest, self._buckets)], int.from_bytes(digest[:8], "big") % self._num_shards)
                writer = self._writers.get(key)
                if writer is None:
                    writer = self._writers[key] = tf.io.TFRecordWriter(self._spill_path(key))
                writer.write(record)

    def finish_bundle(self) -> Iterator[WindowedValue]:
        for key, writer in self._writers.items():
            writer.close()
            yield WindowedValue(
                (key, self._spill_path(key)), window.GlobalWindow().max_timestamp(), [window.GlobalWindow()]
            )
        self._writers = {}

    def _spill_path(self, key: tuple[str, int]) -> str:
        name, shard = key
        return os.path.join(self._spill_dir, f"{name}-{shard:05d}-{self._bundle}.tfrecord")


class _WriteShard(beam.DoFn):
    def __init__(self, split_uris: dict[str, str], num_shards: int):
        self._split_uris = split_uris
        self._num_shards = num_shards

    def process(self, element) -> Iterator[tuple[str, int]]:
        (name, shard), spill_files = element
        rows = [record for batch in records.read_batches(sorted(spill_files), _READ_BATCH) for record in batch]
        # A fixed pseudo-random order: the input's order is gone, and a re-run writes the same bytes.
        rows.sort(key=lambda record: hashlib.sha256(record).digest()[8:])
        path = os.path.join(self._split_uris[name], shard_file_name(shard, self._num_shards))
        # Written beside, then renamed: a retried bundle never leaves half a shard under the final name.
        partial = f"{path}.partial"
        with tf.io.TFRecordWriter(partial, options="GZIP") as writer:
            for record in rows:
                writer.write(record)
        tf.io.gfile.rename(partial, path, overwrite=True)
        yield name, len(rows)
