"""The one TFRecord reader: the compression rule, every record once, blocks, order, and clear errors."""

from __future__ import annotations

import itertools

import pytest
import tensorflow as tf

from common import records


def _write(path, rows: list[bytes], gzipped: bool) -> str:
    with tf.io.TFRecordWriter(str(path), options="GZIP" if gzipped else None) as writer:
        for row in rows:
            writer.write(row)
    return str(path)


def test_the_compression_follows_the_name_as_beam_and_example_gen_do():
    assert records.compression_type("Split-train/data_tfrecord-00000-of-00001.gz") == "GZIP"
    assert records.compression_type("span-1/part.tfrecord") == ""
    assert records.compression_type("archive.gz.txt") == ""


def test_gzipped_and_plain_files_read_together_each_by_its_name(tmp_path):
    gzipped = _write(tmp_path / "a.gz", [b"a0", b"a1"], gzipped=True)
    plain = _write(tmp_path / "b.tfrecord", [b"b0"], gzipped=False)
    assert list(records.read_records([gzipped, plain], cycle_length=1).as_numpy_iterator()) == [b"a0", b"a1", b"b0"]
    batches = [batch.tolist() for batch in records.read_batches([plain, gzipped], batch_size=2)]
    assert batches == [[b"b0", b"a0"], [b"a1"]], "in the given file order, batched across files"
    assert records.first_record([_write(tmp_path / "empty.gz", [], True), gzipped]) == b"a0"
    assert records.first_record([]) is None and list(records.read_batches([], 4)) == []


def test_a_gzipped_file_without_the_suffix_is_not_a_tfrecord(tmp_path):
    misnamed = _write(tmp_path / "part.tfrecord", [b"x"] * 3, gzipped=True)
    with pytest.raises(tf.errors.DataLossError):
        list(records.read_records([misnamed]).as_numpy_iterator())


def test_no_matching_file_is_named(tmp_path):
    (tmp_path / "folder").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no input files match \[.*nothing\*"):
        records.list_files(str(tmp_path / "nothing*"))
    with pytest.raises(FileNotFoundError):  # a folder is not an input file
        records.list_files([str(tmp_path / "*")])


@pytest.mark.parametrize("gzipped", [True, False], ids=["gzip", "plain"])
def test_files_are_read_whole_blocks_at_a_time_every_record_once(tmp_path, gzipped):
    # Handing records over one by one between tf.data's threads made reads an order of magnitude slower.
    block = records.DEFAULT_BLOCK
    sizes = (2 * block + 300, 700, block + 1)
    suffix = ".gz" if gzipped else ""
    paths = []
    for file_index, size in enumerate(sizes):
        rows = [f"{file_index} {offset}".encode() for offset in range(size)]
        paths.append(_write(tmp_path / f"part-{file_index}{suffix}", rows, gzipped))
    expected = sorted(f"{file_index} {offset}" for file_index, size in enumerate(sizes) for offset in range(size))
    for deterministic in (True, False):
        read = [row.decode() for row in records.read_records(paths, deterministic, cycle_length=2).as_numpy_iterator()]
        assert sorted(read) == expected, "every record exactly once"
        # Two files open at once: a file's records come in runs that end at a block's end or at its end.
        runs = [list(run) for _, run in itertools.groupby(read, key=lambda row: row.split()[0])]
        for run in runs:
            file_index, last = map(int, run[-1].split())
            assert (last + 1) % block == 0 or last + 1 == sizes[file_index], f"a run of {len(run)} ends at {last}"
    ordered = [list(records.read_records(paths, cycle_length=2).as_numpy_iterator()) for _ in range(2)]
    assert ordered[0] == ordered[1], "a deterministic read gives the same order every time"
