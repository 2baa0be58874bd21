"""ExampleGen: the fast import against TFX's, and naming input files it cannot read (gzip that is not, truncated...)."""

from __future__ import annotations

import json
import pathlib

import pytest
import tensorflow as tf
from tfx.components.example_gen.import_example_gen import executor as import_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import proto_utils

from common import records
from components.example_gen import FastImportExecutor, diagnose
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


def _import(executor, source_dir, examples_dir) -> standard_artifacts.Examples:
    """Runs an ImportExampleGen executor over one span (span-1/*, 2:1 hash split) as TFX's driver would."""
    examples = standard_artifacts.Examples()
    examples.uri = str(examples_dir)
    output = example_gen_pb2.Output(
        split_config=example_gen_pb2.SplitConfig(
            splits=[
                example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=2),
                example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=1),
            ]
        )
    )
    source = example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(name="single_split", pattern="span-1/*")])
    properties = {
        "input_base": str(source_dir),
        "input_config": proto_utils.proto_to_json(source),
        "output_config": proto_utils.proto_to_json(output),
        "output_data_format": example_gen_pb2.FORMAT_TF_EXAMPLE,
        "output_file_format": example_gen_pb2.FORMAT_TFRECORDS_GZIP,
        "span": 1,
    }
    executor().Do({}, {"examples": [examples]}, properties)
    return examples


def test_the_fast_import_writes_the_records_tfxs_import_writes_in_tfxs_layout(tmp_path):
    """The same records in each split as TFX's ImportExampleGen executor, gzipped shards named as TFX names them."""
    span = tmp_path / "data" / "span-1"
    span.mkdir(parents=True)
    for part, gzipped in enumerate((True, False, True)):
        suffix = ".gz" if gzipped else ""
        with tf.io.TFRecordWriter(str(span / f"part-{part}{suffix}"), options="GZIP" if gzipped else None) as writer:
            for index in range(part * 1000, part * 1000 + 700):
                example = tf.train.Example()
                example.features.feature["x"].int64_list.value.append(index)
                writer.write(example.SerializeToString())
    runs = {
        "ours": _import(FastImportExecutor, tmp_path / "data", tmp_path / "ours"),
        "tfx": _import(import_executor.Executor, tmp_path / "data", tmp_path / "tfx"),
    }
    for split in ("train", "eval"):
        found = {}
        for name, examples in runs.items():
            files = sorted(tf.io.gfile.glob(artifact_utils.get_split_uri([examples], split) + "/*"))
            assert all(pathlib.Path(path).name.startswith("data_tfrecord-") and path.endswith(".gz") for path in files)
            found[name] = sorted(records.read_records(files).as_numpy_iterator())
        assert found["ours"] == found["tfx"], split
        assert len(found["ours"]) > 300, split
