"""Unit tests of the sample-data step: conversion, span cutting and safe writing."""

from __future__ import annotations

import gzip
import os
import pathlib
import subprocess
import sys

import pytest
import tensorflow as tf

from pipelines import config as config_lib
from pipelines import sample_data
from tests.conftest import LOCAL_CONFIG, SCHEMA_PATH


@pytest.fixture(scope="module")
def types() -> dict[str, str]:
    return sample_data.column_types(str(SCHEMA_PATH))


def _input_config(tmp_path: pathlib.Path, input_format: str) -> config_lib.InputConfig:
    return config_lib.load_config(
        LOCAL_CONFIG,
        [f"input.format={input_format}", f"input.path={tmp_path}/{input_format}"],
        check_local_paths=False,
    ).input


@pytest.fixture
def input_config(tmp_path: pathlib.Path) -> config_lib.InputConfig:
    return _input_config(tmp_path, "tfrecord")


def test_column_types_follow_the_schema(types):
    assert types["fare"] == "FLOAT" and types["trip_seconds"] == "INT" and types["payment_type"] == "BYTES"


def test_to_example_types_values_and_drops_empty_cells(types):
    example = sample_data.to_example(
        {"fare": "12.5", "trip_seconds": "300", "payment_type": "Cash", "company": ""}, types
    )
    feature = example.features.feature
    assert list(feature["fare"].float_list.value) == [12.5]
    assert list(feature["trip_seconds"].int64_list.value) == [300]
    assert list(feature["payment_type"].bytes_list.value) == [b"Cash"]
    assert "company" not in feature


def test_a_row_is_the_same_bytes_in_every_process():
    # Each process hashes strings with its own seed; protobuf's default map order followed it.
    script = (
        "import hashlib, sys; from pipelines import sample_data; from tests.conftest import SCHEMA_PATH; "
        "types = sample_data.column_types(str(SCHEMA_PATH)); rows = sample_data.read_rows()[:200]; "
        "sys.stdout.write(hashlib.sha256(b''.join(sample_data.serialize(r, types) for r in rows)).hexdigest())"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout
        for seed in (1, 2, 3)
    }
    assert len(digests) == 1, digests


def test_to_example_names_the_bad_column(types):
    with pytest.raises(ValueError, match=r"column 'fare': 'abc' is not a valid FLOAT value"):
        sample_data.to_example({"fare": "abc"}, types)
    with pytest.raises(ValueError, match=r"column 'colour' is not in the schema"):
        sample_data.to_example({"colour": "red"}, types)


def test_split_into_spans_orders_by_time(sample_rows):
    spans = sample_data.split_into_spans(sample_rows, 3)
    assert sum(len(span) for span in spans) == len(sample_rows)
    assert max(len(span) for span in spans) - min(len(span) for span in spans) <= 1
    last_of = [max(int(row["trip_start_timestamp"]) for row in span) for span in spans]
    first_of = [min(int(row["trip_start_timestamp"]) for row in span) for span in spans]
    assert last_of[0] <= first_of[1] and last_of[1] <= first_of[2]


def test_split_into_spans_rejects_bad_counts(sample_rows):
    with pytest.raises(ValueError, match="--num-spans"):
        sample_data.split_into_spans(sample_rows[:3], 4)


def test_write_spans_writes_the_configured_format(sample_rows, types, tmp_path):
    rows = sample_rows[:200]
    written = []
    for input_format in ("tfrecord", "csv"):
        spans = sample_data.split_into_spans(rows, 2)
        written += sample_data.write_spans(spans, _input_config(tmp_path, input_format), types)
    assert sorted(written) == sorted(str(tmp_path / fmt / f"span-{n}") for fmt in ("csv", "tfrecord") for n in (1, 2))
    assert [path.name for path in (tmp_path / "csv" / "span-1").iterdir()] == ["data.csv"]
    records = [
        tf.train.Example.FromString(record)
        for span in (1, 2)
        for record in tf.compat.v1.io.tf_record_iterator(
            str(tmp_path / "tfrecord" / f"span-{span}" / "data.tfrecord.gz"), options=tf.io.TFRecordOptions("GZIP")
        )
    ]
    assert len(records) == 200
    csv_lines = (tmp_path / "csv" / "span-1" / "data.csv").read_text().splitlines()
    assert csv_lines[0].split(",")[:2] == ["pickup_community_area", "fare"] and len(csv_lines) == 101
    assert not list(tmp_path.glob("*/.staging-*")), "staging folders must not be left behind"


def test_existing_spans_are_left_alone_unless_overwrite(sample_rows, types, input_config, tmp_path):
    span = tmp_path / "tfrecord" / "span-1"
    span.mkdir(parents=True)
    (span / "mine.tfrecord.gz").write_bytes(gzip.compress(b""))
    written = sample_data.write_spans([sample_rows[:10]], input_config, types)
    assert str(span) not in written and (span / "mine.tfrecord.gz").exists()
    sample_data.write_spans([sample_rows[:10]], input_config, types, overwrite=True)
    assert not (span / "mine.tfrecord.gz").exists() and (span / "data.tfrecord.gz").exists()


def test_main_reports_errors_with_exit_code(tmp_path, capsys):
    code = sample_data.main(["--config", str(tmp_path / "missing.yaml")])
    assert code == 2
    assert "missing.yaml: config file not found" in capsys.readouterr().err
