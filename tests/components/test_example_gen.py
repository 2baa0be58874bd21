"""Naming input files ExampleGen cannot read: gzip that is not, truncated, not UTF-8, ragged CSV."""

from __future__ import annotations

import json

import pytest
import tensorflow as tf

from components.example_gen import diagnose
from components.example_gen.executor import input_files


@pytest.fixture(scope="module")
def tfrecords(tmp_path_factory):
    folder = tmp_path_factory.mktemp("records")
    good = folder / "good.tfrecord.gz"
    with tf.io.TFRecordWriter(str(good), options="GZIP") as writer:
        for index in range(2000):
            example = tf.train.Example()
            example.features.feature["x"].float_list.value.append(index)
            writer.write(example.SerializeToString())
    data = good.read_bytes()
    (folder / "truncated.tfrecord.gz").write_bytes(data[: len(data) // 2])
    (folder / "plain.tfrecord.gz").write_bytes(b"id,value\n1,2\n")
    (folder / "gzipped_without_gz.tfrecord").write_bytes(data)
    with tf.io.TFRecordWriter(str(folder / "not_examples.tfrecord.gz"), options="GZIP") as writer:
        writer.write(b"\xff\xfe not a protocol buffer")
    return folder


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("good.tfrecord.gz", None),
        ("plain.tfrecord.gz", "not gzip-compressed, but its name ends in .gz"),
        ("truncated.tfrecord.gz", "truncated after "),
        ("gzipped_without_gz.tfrecord", "if it is gzipped, its name must end in .gz"),
        ("not_examples.tfrecord.gz", "its first record is not a serialized tf.Example"),
    ],
)
def test_tfrecord_problems_are_described(tfrecords, name, reason):
    problem = diagnose.tfrecord_problem(str(tfrecords / name))
    if reason is None:
        assert problem is None
    else:
        assert problem is not None and reason in problem, problem


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"a,b\n1,2\n", None),
        (b"a,b\n1,2\n3\n", "line 3 has 1 fields, the header has 2"),
        ("a,b\ncaf\u00e9,2\n".encode("latin-1"), "not UTF-8 text (byte 7"),
        (b"", "empty: no header line"),
    ],
)
def test_csv_problems_are_described(tmp_path, content, reason):
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    assert diagnose.csv_problem(str(path)) == reason or reason in diagnose.csv_problem(str(path))


def test_only_the_bad_files_are_named_in_order(tfrecords):
    paths = [str(tfrecords / name) for name in ("good.tfrecord.gz", "plain.tfrecord.gz", "truncated.tfrecord.gz")]
    assert [path for path, _ in diagnose.unreadable_files(paths, "tfrecord")] == paths[1:]


def test_the_input_files_are_those_of_the_resolved_span(tmp_path):
    for span in (1, 2):
        (tmp_path / f"span-{span}").mkdir()
        (tmp_path / f"span-{span}" / "part.gz").write_bytes(b"")
    properties = {
        "input_base": str(tmp_path),
        "input_config": json.dumps({"splits": [{"name": "single_split", "pattern": "span-2/*"}]}),
    }
    assert input_files(properties) == [str(tmp_path / "span-2" / "part.gz")]
