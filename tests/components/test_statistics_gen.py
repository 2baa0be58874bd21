"""FastStatisticsExecutor: TFX's statistics, and errors on mixed value types naming the feature, on real artifacts."""

from __future__ import annotations

import json
import pathlib

import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv
from tensorflow.core.example import example_pb2
from tfx.components.statistics_gen import executor as tfx_statistics_gen_executor
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs

from components.statistics_gen import DataTypeError, FastStatisticsExecutor, type_conflicts
from tests.conftest import assert_same_statistics

TFDV_DECODER_MESSAGE = 'Feature had wrong type, expected float_list, found bytes_list for feature "fare"'
ARROW_MERGE_MESSAGE = "FAILED_PRECONDITION: Unable to merge incompatible type: float vs large_binary"


def _example(**features: float | bytes | None) -> bytes:
    """A serialized tf.Example; a float is a float_list, bytes a bytes_list, None a feature with no list."""
    example = example_pb2.Example()
    for name, value in features.items():
        feature = example.features.feature[name]
        if isinstance(value, float):
            feature.float_list.value.append(value)
        elif isinstance(value, bytes):
            feature.bytes_list.value.append(value)
    return example.SerializeToString()


def _located(records: list[bytes]) -> list[tuple[str, bytes]]:
    return [(f"record {index}", record) for index, record in enumerate(records)]


def test_consistent_types_and_missing_values_are_no_conflict():
    records = [_example(fare=1.0, payment=b"Cash"), _example(fare=None, payment=b"Card"), _example(payment=b"Cash")]
    assert type_conflicts.find_type_conflicts(_located(records)) == []


def test_a_conflict_names_the_feature_its_counts_and_the_first_odd_example():
    records = [_example(fare=1.0)] * 4 + [_example(fare=b"abc"), _example(fare=2.0), _example(fare=b"n/a")]
    (conflict,) = type_conflicts.find_type_conflicts(_located(records))
    assert conflict.feature == "fare"
    assert conflict.counts == {"float_list": 5, "bytes_list": 2}
    assert conflict.first_of_rarest == "record 4"


def test_on_a_tie_the_message_names_the_type_whose_example_it_points_to():
    records = [_example(fare=b"abc"), _example(fare=1.0)]
    (conflict,) = type_conflicts.find_type_conflicts(_located(records))
    assert (conflict.rarest, conflict.first_of_rarest) == ("bytes_list", "record 0")
    assert "(first bytes_list: record 0)" in type_conflicts.describe([conflict], "examples")


def test_every_conflicting_feature_is_listed_in_name_order():
    records = [_example(zone=1.0, fare=1.0, ok=b"x"), _example(zone=b"north", fare=b"abc", ok=b"y")]
    assert [c.feature for c in type_conflicts.find_type_conflicts(_located(records))] == ["fare", "zone"]


def test_the_message_names_data_feature_types_and_where_to_look():
    conflict = type_conflicts.TypeConflict(
        "fare", {"float_list": 2999, "bytes_list": 1}, "Split-train/data.gz record 5"
    )
    message = type_conflicts.describe([conflict], "gs://bucket/ExampleGen/examples/3")
    assert "gs://bucket/ExampleGen/examples/3" in message
    assert message.splitlines()[1] == (
        '  feature "fare": float_list in 2999 examples, bytes_list in 1 example '
        "(first bytes_list: Split-train/data.gz record 5)"
    )


@pytest.mark.parametrize(
    ("message", "expected"),
    [(TFDV_DECODER_MESSAGE, True), (ARROW_MERGE_MESSAGE, True), ("No space left on device", False)],
)
def test_both_ways_tfdv_reports_mixed_types_are_recognised(message, expected):
    assert type_conflicts.looks_like_type_conflict(message) is expected


def _examples_artifact(root: pathlib.Path, splits: dict[str, list[bytes]]) -> standard_artifacts.Examples:
    """An Examples artifact laid out as ExampleGen writes it: gzipped tf.Examples in Split-<name>/."""
    examples = standard_artifacts.Examples()
    examples.uri = str(root / "examples")
    examples.split_names = artifact_utils.encode_split_names(list(splits))
    for split, records in splits.items():
        split_dir = pathlib.Path(artifact_utils.get_split_uri([examples], split))
        split_dir.mkdir(parents=True)
        with tf.io.TFRecordWriter(str(split_dir / "data_tfrecord-00000-of-00001.gz"), options="GZIP") as writer:
            for record in records:
                writer.write(record)
    return examples


def _run_executor(
    root: pathlib.Path, splits: dict[str, list[bytes]], executor=FastStatisticsExecutor, **properties
) -> pathlib.Path:
    statistics = standard_artifacts.ExampleStatistics()
    statistics.uri = str(root / "statistics")
    examples = root / "examples"
    artifact = _examples_artifact(root, splits) if not examples.exists() else _existing_examples(root, list(splits))
    executor().Do(
        {standard_component_specs.EXAMPLES_KEY: [artifact]},
        {standard_component_specs.STATISTICS_KEY: [statistics]},
        properties,
    )
    return pathlib.Path(statistics.uri)


def _existing_examples(root: pathlib.Path, splits: list[str]) -> standard_artifacts.Examples:
    examples = standard_artifacts.Examples()
    examples.uri = str(root / "examples")
    examples.split_names = artifact_utils.encode_split_names(splits)
    return examples


def _trips(num_trips: int) -> list[bytes]:
    return [
        _example(fare=float(index % 40), payment=b"Cash" if index % 3 else b"Credit Card") for index in range(num_trips)
    ]


def _summary(statistics_file: pathlib.Path) -> dict:
    """What the gate and SchemaGen read: per feature its type, presence, numeric moments and categories."""
    (dataset,) = tfdv.load_stats_binary(str(statistics_file)).datasets
    summary = {"num_examples": dataset.num_examples}
    for feature in dataset.features:
        numeric, strings = feature.num_stats, feature.string_stats
        common = numeric.common_stats if feature.HasField("num_stats") else strings.common_stats
        summary[feature.path.step[0]] = {
            "type": feature.type,
            "non_missing": common.num_non_missing,
            "missing": common.num_missing,
            "moments": (round(numeric.mean, 6), round(numeric.std_dev, 6), numeric.min, numeric.max, numeric.num_zeros),
            "categories": {bucket.value: bucket.frequency for bucket in strings.top_values},
        }
    return summary


def test_clean_examples_get_the_statistics_tfx_computes(tmp_path):
    trips = _trips(3000)
    trips[5] = _example(payment=b"Cash")  # a missing fare
    ours = _run_executor(tmp_path / "ours", {"train": trips, "eval": _trips(100)})
    stock = _run_executor(
        tmp_path / "stock", {"train": trips, "eval": _trips(100)}, tfx_statistics_gen_executor.Executor
    )
    for split in ("Split-train", "Split-eval"):
        mine, theirs = (tfdv.load_stats_binary(str(root / split / "FeatureStats.pb")) for root in (ours, stock))
        assert_same_statistics(mine, theirs, split)
    assert _summary(ours / "Split-train" / "FeatureStats.pb")["fare"]["missing"] == 1


def test_excluded_splits_get_no_statistics(tmp_path):
    statistics_dir = _run_executor(
        tmp_path, {"train": _trips(20), "old": _trips(20)}, exclude_splits=json.dumps(["old"])
    )
    assert sorted(path.name for path in statistics_dir.iterdir()) == ["Split-train"]


# Beam batches the examples as it likes: the odd value alone in the first
# batch reaches TFDV's Arrow merge, odd values in every batch reach the
# decoder. The error is the same either way.
@pytest.mark.parametrize(
    "odd_records",
    [
        pytest.param(lambda records: [0], id="first-example"),
        pytest.param(lambda r: range(0, len(r), 2), id="every-other"),
    ],
)
def test_mixed_types_fail_naming_the_feature_however_beam_batches(tmp_path, odd_records):
    train = _trips(300)
    for index in odd_records(train):
        train[index] = _example(fare=b"abc", payment=b"Cash")
    num_odd = len(list(odd_records(train)))

    with pytest.raises(DataTypeError) as raised:
        _run_executor(tmp_path, {"train": train, "eval": _trips(50)})

    message = str(raised.value)
    assert f'feature "fare": float_list in {350 - num_odd} examples, bytes_list in {num_odd} example' in message
    assert "(first bytes_list: Split-train/data_tfrecord-00000-of-00001.gz record 0)" in message
    assert "payment" not in message
    assert type_conflicts.looks_like_type_conflict(str(raised.value.__cause__))


def test_other_failures_pass_through_unchanged(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(FastStatisticsExecutor, "_generate", fail)
    with pytest.raises(OSError, match="No space left on device"):
        _run_executor(tmp_path, {"train": _trips(10)})


def test_a_type_failure_the_scan_cannot_explain_is_not_hidden(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError(ARROW_MERGE_MESSAGE)

    monkeypatch.setattr(FastStatisticsExecutor, "_generate", fail)
    with pytest.raises(RuntimeError, match="Unable to merge incompatible type"):
        _run_executor(tmp_path, {"train": _trips(10)})
