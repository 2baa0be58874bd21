"""ExampleGen's batched import: every record once in its hash split, a fixed shuffled order, TFX's file layout.

That the splits are TFX's own is checked against TFX's executor (test_example_gen.py).
"""

from __future__ import annotations

import hashlib
import itertools
import os

import apache_beam as beam
import pytest
import tensorflow as tf
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from tfx.proto import example_gen_pb2

from components.example_gen import batched

BUCKETS = [2, 3]  # 2 train, 1 eval: the pipeline's default
SPLIT_CONFIG = example_gen_pb2.SplitConfig(
    splits=[
        example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=2),
        example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=1),
    ]
)


def _records(first: int, count: int) -> list[bytes]:
    records = []
    for index in range(first, first + count):
        example = tf.train.Example()
        example.features.feature["index"].int64_list.value.append(index)
        records.append(example.SerializeToString())
    return records


def _write(path, records, gzipped=True):
    with tf.io.TFRecordWriter(str(path), options="GZIP" if gzipped else None) as writer:
        for record in records:
            writer.write(record)


def _read(folder) -> dict[str, list[bytes]]:
    return {
        name: list(tf.data.TFRecordDataset(str(folder / name), compression_type="GZIP").as_numpy_iterator())
        for name in sorted(os.listdir(folder))
    }


def _run(tmp_path, sources, split_names, num_shards):
    uris = {name: str(tmp_path / "out" / f"Split-{name}") for name in split_names}
    for uri in uris.values():
        os.makedirs(uri, exist_ok=True)
    spill = tmp_path / "spill"
    spill.mkdir()
    with TestPipeline() as pipeline:
        counts = (
            pipeline
            | beam.Create(sources)
            | batched.ImportAndSplit(BUCKETS, uris, num_shards, str(spill))
            | beam.CombinePerKey(sum)
        )
        assert_that(counts, equal_to(list(_expected_counts(sources).items())))
    return {name: _read(tmp_path / "out" / f"Split-{name}") for name in split_names}


def _expected_counts(sources) -> dict[str, int]:
    counts: dict[str, int] = {}
    for names, path in sources:
        for record in tf.data.TFRecordDataset(path, compression_type="GZIP" if path.endswith(".gz") else ""):
            name = names[batched.partition_of(hashlib.sha256(record.numpy()).digest(), BUCKETS)]
            counts[name] = counts.get(name, 0) + 1
    return counts


@pytest.fixture
def two_spans(tmp_path):
    newest = [tmp_path / "new-0.gz", tmp_path / "new-1"]
    _write(newest[0], _records(0, 1500))
    _write(newest[1], _records(1500, 1500), gzipped=False)
    older = tmp_path / "old-0.gz"
    _write(older, _records(10_000, 900))
    return [(("train", "eval"), str(path)) for path in newest] + [(("older1_train", "older1_eval"), str(older))]


def test_every_record_lands_once_in_tfxs_split_and_shard_files(tmp_path, two_spans):
    names = ["train", "eval", "older1_train", "older1_eval"]
    out = _run(tmp_path, two_spans, names, num_shards=3)

    assert sorted(out["train"]) == [batched.shard_file_name(shard, 3) for shard in range(3)]
    by_split = {name: [record for records in files.values() for record in records] for name, files in out.items()}
    newest = _records(0, 3000)
    expected = {name: [] for name in names}
    for record in newest:
        expected[["train", "eval"][batched.partition_of(hashlib.sha256(record).digest(), BUCKETS)]].append(record)
    for record in _records(10_000, 900):
        split = batched.partition_of(hashlib.sha256(record).digest(), BUCKETS)
        expected[["older1_train", "older1_eval"][split]].append(record)
    for name in names:
        assert sorted(by_split[name]) == sorted(expected[name]), name
    # Shuffled: in each file, about half the neighbours are in input order (all of them if the order were kept).
    position = {record: index for index, record in enumerate(newest)}
    for records in out["train"].values():
        positions = [position[record] for record in records]
        ascending = sum(a < b for a, b in itertools.pairwise(positions))
        assert 0.4 < ascending / (len(positions) - 1) < 0.6


def test_only_spill_file_names_are_grouped_and_the_files_hold_every_record(tmp_path, two_spans):
    # What Beam groups is what the in-memory runner holds: names of files, not records.
    spill = tmp_path / "spill"
    spill.mkdir()
    with TestPipeline() as pipeline:
        grouped = pipeline | beam.Create(two_spans) | beam.ParDo(batched._ReadAndSpill(BUCKETS, 3, str(spill)))
        _ = grouped | beam.Map(_check_spill_element)
    spilled: dict[tuple[str, int], list[bytes]] = {}
    for path in spill.iterdir():
        name, shard, _ = path.name.rsplit("-", 2)
        spilled.setdefault((name, int(shard)), []).extend(tf.data.TFRecordDataset(str(path)).as_numpy_iterator())
    counts = _expected_counts(two_spans)
    assert {name: sum(len(r) for (n, _), r in spilled.items() if n == name) for name in counts} == counts
    for (_, shard), records in spilled.items():
        assert all(int.from_bytes(hashlib.sha256(record).digest()[:8], "big") % 3 == shard for record in records)


def _check_spill_element(element):
    (name, shard), path = element
    assert isinstance(path, str) and os.path.basename(path).startswith(f"{name}-{shard:05d}-"), element
    assert os.path.getsize(path) > 0, element


def test_a_rerun_writes_the_same_bytes(tmp_path, two_spans):
    first = _run(tmp_path / "a", two_spans, ["train", "eval", "older1_train", "older1_eval"], num_shards=2)
    second = _run(tmp_path / "b", two_spans, ["train", "eval", "older1_train", "older1_eval"], num_shards=2)
    assert first == second
    assert not any(name.endswith(".partial") for files in first.values() for name in files)
