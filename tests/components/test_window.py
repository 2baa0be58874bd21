"""The rolling window: the splits its executors write, the same with TFX's reading and ours, and stable identities."""

from __future__ import annotations

import json
import os

import pytest
import tensorflow as tf
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import proto_utils

from components import artifacts
from components.artifacts import IDENTITIES_PROPERTY, SPANS_PROPERTY
from components.example_gen import FastImportExecutor, InputFileError, WindowedImportExecutor, diagnose, window
from components.transform.executor import dataset_identities

EXECUTORS = [FastImportExecutor, WindowedImportExecutor]


def _span(folder, span: int, values: range) -> None:
    path = folder / f"span-{span}" / "part.tfrecord.gz"
    path.parent.mkdir(parents=True)
    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
        for value in values:
            example = tf.train.Example()
            example.features.feature["x"].int64_list.value.append(value)
            writer.write(example.SerializeToString())


def test_older_spans_keep_their_hash_partition_as_two_splits():
    parts = window.window_parts([7, 3], window=3)
    assert [(part.split, part.span, part.part) for part in parts] == [
        ("train", 7, "train"),
        ("eval", 7, "eval"),
        ("older1_train", 3, "train"),
        ("older1_eval", 3, "eval"),
        ("older2_train", None, "train"),
        ("older2_eval", None, "eval"),
    ]
    assert artifacts.older_split_names(3) == ["older1_train", "older1_eval", "older2_train", "older2_eval"]
    assert artifacts.older_split_names(1) == []


def test_the_same_rows_keep_the_same_identity_under_another_split_name():
    newest = window.SpanPart("train", 3, "train").identity("abc", "p")
    later = window.SpanPart("older1_train", 3, "train").identity("abc", "p")
    assert newest == later == "span-3-abc-train-p"
    assert window.SpanPart("older2_eval", None, "eval").identity("abc", "p") is None


@pytest.fixture(scope="module", params=EXECUTORS, ids=lambda executor: executor.__name__)
def windowed_run(request, tmp_path_factory):
    """A windowed TFRecord executor over spans 1..3 (100 rows each), window 3, newest resolved as span 3."""
    data = tmp_path_factory.mktemp("spans")
    for span in (1, 2, 3):
        _span(data, span, range(span * 1000, span * 1000 + 100))
    examples_dir = tmp_path_factory.mktemp("examples")
    return _run_window(data, examples_dir, span=3, window_spans=3, executor=request.param, input_fingerprint="fp")


def _run_window(
    data, examples_dir, span: int, window_spans: int, executor=FastImportExecutor, **extra
) -> standard_artifacts.Examples:
    """Runs a TFRecord ExampleGen executor on `span` (resolved as the newest) with a window; returns its Examples."""
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
    source = example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(name="single_split", pattern=f"span-{span}/*")])
    properties = {
        "input_base": str(data),
        "input_config": proto_utils.proto_to_json(source),
        "output_config": proto_utils.proto_to_json(output),
        "output_data_format": example_gen_pb2.FORMAT_TF_EXAMPLE,
        "output_file_format": example_gen_pb2.FORMAT_TFRECORDS_GZIP,
        "span": span,
        "window_spans": window_spans,
        "window_pattern": "span-{SPAN}/*",
        **extra,
    }
    executor().Do({}, {"examples": [examples]}, properties)
    return examples


def _values(examples, split: str) -> list[int]:
    files = [str(path) for path in tf.io.gfile.glob(artifact_utils.get_split_uri([examples], split) + "/*")]
    return [
        tf.train.Example.FromString(record).features.feature["x"].int64_list.value[0]
        for record in tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator()
    ]


def test_the_executor_writes_the_window_as_splits_and_records_it(windowed_run):
    examples = windowed_run
    assert artifact_utils.decode_split_names(examples.split_names) == [
        "train",
        "eval",
        "older1_train",
        "older1_eval",
        "older2_train",
        "older2_eval",
    ]
    newest = sorted(_values(examples, "train") + _values(examples, "eval"))
    assert newest == list(range(3000, 3100)), "train and eval are the newest span, split"
    assert sorted(_values(examples, "older1_train") + _values(examples, "older1_eval")) == list(range(2000, 2100))
    assert sorted(_values(examples, "older2_train") + _values(examples, "older2_eval")) == list(range(1000, 1100))
    assert len(_values(examples, "older1_train")) > len(_values(examples, "older1_eval")), "the 2:1 hash partition"
    assert json.loads(examples.get_string_custom_property(SPANS_PROPERTY)) == [3, 2, 1]
    identities = json.loads(examples.get_string_custom_property(IDENTITIES_PROPERTY))
    assert set(identities) == set(artifact_utils.decode_split_names(examples.split_names))
    assert identities["older1_train"].startswith("span-2-") and identities["train"].startswith("span-3-")
    # The batched import's spill files (components/example_gen/batched.py) are gone: only the splits remain.
    assert sorted(os.listdir(examples.uri)) == sorted(f"Split-{name}" for name in identities)


def test_tfxs_reading_and_ours_put_the_same_rows_in_the_same_splits(tmp_path):
    data = tmp_path / "spans"
    for span in (1, 2):
        _span(data, span, range(span * 1000, span * 1000 + 300))
    runs = [_run_window(data, tmp_path / cls.__name__, 2, 2, executor=cls) for cls in EXECUTORS]
    names = [artifact_utils.decode_split_names(examples.split_names) for examples in runs]
    assert names[0] == names[1] == ["train", "eval", "older1_train", "older1_eval"]
    for split in names[0]:
        assert sorted(_values(runs[0], split)) == sorted(_values(runs[1], split)), split


@pytest.mark.parametrize("executor", EXECUTORS, ids=lambda executor: executor.__name__)
def test_a_good_window_is_read_once_and_a_bad_file_is_named(tmp_path, monkeypatch, executor):
    data = tmp_path / "data"
    _span(data, 1, range(50))
    _span(data, 2, range(100, 150))

    def never(*args, **kwargs):
        raise AssertionError("the input files were read a second time")

    # A good window: the import reads every file once; the per-file diagnosis only runs after a failure.
    with monkeypatch.context() as patch:
        patch.setattr(diagnose, "unreadable_files", never)
        examples = _run_window(data, tmp_path / "good", span=2, window_spans=2, executor=executor)
    assert sorted(_values(examples, "older1_train") + _values(examples, "older1_eval")) == list(range(50))

    whole = (data / "span-1" / "part.tfrecord.gz").read_bytes()
    (data / "span-1" / "part.tfrecord.gz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(InputFileError, match=r"span-1/part\.tfrecord\.gz: truncated after \d+ records"):
        _run_window(data, tmp_path / "truncated", span=2, window_spans=2, executor=FastImportExecutor)

    (data / "span-1" / "part.tfrecord.gz").unlink()
    with tf.io.TFRecordWriter(str(data / "span-1" / "part.tfrecord.gz"), options="GZIP") as writer:
        writer.write(b"\xff\xfe not a protocol buffer")
    with pytest.raises(InputFileError, match=r"its first record is not a serialized tf\.Example"):
        _run_window(data, tmp_path / "not_examples", span=2, window_spans=2, executor=executor)


def test_transform_keys_each_split_by_its_identity(windowed_run):
    mapping = dataset_identities([windowed_run])
    identities = json.loads(windowed_run.get_string_custom_property(IDENTITIES_PROPERTY))
    for split, identity in identities.items():
        pattern = artifact_utils.get_split_uri([windowed_run], split) + "/*"
        assert mapping[pattern] == identity


def test_positions_without_a_span_are_empty_splits_that_can_be_read(tmp_path):
    data = tmp_path / "spans"
    _span(data, 1, range(100))
    examples = _run_window(data, tmp_path / "examples", span=1, window_spans=2)
    assert artifact_utils.decode_split_names(examples.split_names)[2:] == ["older1_train", "older1_eval"]
    assert tf.io.gfile.glob(artifact_utils.get_split_uri([examples], "older1_train") + "/*"), "a file, with no record"
    assert _values(examples, "older1_train") == [] and len(_values(examples, "train")) > 50
    assert json.loads(examples.get_string_custom_property(SPANS_PROPERTY)) == [1]
    assert "older1_train" not in json.loads(examples.get_string_custom_property(IDENTITIES_PROPERTY))
