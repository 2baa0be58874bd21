"""Materialises the Chicago taxi sample (shipped in the tfx wheel) as pipeline input.

Writes the rows in span folders under the config's `input.path`, as gzipped
TFRecords of tf.Example or as CSV (`input.format`). Value types come from the
curated schema. Usage:

  python -m pipelines.sample_data --config pipelines/configs/local.yaml [--num-spans 3]
  python -m pipelines.sample_data --set input.format=csv --set input.path=data/taxi/csv
"""

from __future__ import annotations

import argparse
import csv
import functools
import itertools
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence

import tfx
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from pipelines import config as config_lib

__all__ = [
    "SAMPLE_CSV",
    "column_types",
    "main",
    "read_rows",
    "serialize",
    "split_into_spans",
    "to_example",
    "write_spans",
]

SAMPLE_CSV = os.path.join(
    os.path.dirname(tfx.__file__), "examples", "chicago_taxi_pipeline", "data", "simple", "data.csv"
)
_TIMESTAMP_COLUMN = "trip_start_timestamp"
_CSV_FILE = "data.csv"
_TFRECORD_FILE = "data.tfrecord.gz"


def column_types(schema_path: str) -> dict[str, str]:
    """Maps each schema feature to its type name: INT, FLOAT or BYTES."""
    with open(schema_path, encoding="utf-8") as stream:
        schema = text_format.Parse(stream.read(), schema_pb2.Schema())
    return {feature.name: schema_pb2.FeatureType.Name(feature.type) for feature in schema.feature}


def to_example(row: Mapping[str, str], types: Mapping[str, str]):
    """Converts one CSV row of strings to a tf.Example; empty cells become absent features.

    Raises:
      ValueError: If a column is not in the schema or a value does not parse as its type.
    """
    import tensorflow as tf

    example = tf.train.Example()
    for column, text in row.items():
        if column not in types:
            raise ValueError(f"column {column!r} is not in the schema; add it to schemas/ or drop it")
        if text == "":
            continue
        feature = example.features.feature[column]
        kind = types[column]
        try:
            if kind == "INT":
                feature.int64_list.value.append(int(text))
            elif kind == "FLOAT":
                feature.float_list.value.append(float(text))
            else:
                feature.bytes_list.value.append(text.encode("utf-8"))
        except ValueError:
            raise ValueError(f"column {column!r}: {text!r} is not a valid {kind} value") from None
    return example


def split_into_spans(rows: Sequence[Mapping[str, str]], num_spans: int) -> list[list[Mapping[str, str]]]:
    """Orders rows by trip start time and cuts them into `num_spans` consecutive spans.

    Later spans hold later trips, as new data arriving for retraining would.
    """
    if num_spans < 1 or num_spans > len(rows):
        raise ValueError(f"--num-spans must be between 1 and {len(rows)}, got {num_spans}")
    ordered = sorted(rows, key=lambda row: int(row[_TIMESTAMP_COLUMN]))
    bounds = [round(index * len(ordered) / num_spans) for index in range(num_spans + 1)]
    return [ordered[start:stop] for start, stop in itertools.pairwise(bounds)]


def write_spans(
    spans: Sequence[Sequence[Mapping[str, str]]],
    input_config: config_lib.InputConfig,
    types: Mapping[str, str],
    overwrite: bool = False,
    first_span: int = 1,
) -> list[str]:
    """Writes each span in the config's format under its `input.path`; returns the folders written.

    A span folder that already exists is left alone unless `overwrite`. Each
    folder is written in a temporary sibling and renamed, so an interrupted run
    never leaves a half-written span that ExampleGen would ingest.
    """
    written = []
    for span_number, rows in enumerate(spans, start=first_span):
        if input_config.format == "csv":
            write = functools.partial(_write_csv, rows=rows)
        else:
            write = functools.partial(_write_tfrecord, rows=rows, types=types)
        folder = input_config.span_dir(span_number)
        if os.path.exists(folder) and not overwrite:
            print(f"{folder} exists, left unchanged (pass --overwrite to regenerate)")
            continue
        _write_atomically(folder, write)
        written.append(folder)
    return written


def _write_atomically(folder: str, write: Callable[[str], None]) -> None:
    parent = os.path.dirname(os.path.abspath(folder))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".staging-", dir=parent)
    try:
        write(staging)
        if os.path.exists(folder):
            shutil.rmtree(folder)
        os.rename(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def serialize(row: Mapping[str, str], types: Mapping[str, str]) -> bytes:
    """A CSV row as the bytes of a tf.Example, the same in every process.

    A tf.Example's features are a protobuf map, whose default serialization
    order follows the process's string hashing: the same row would make
    different bytes in each process, and since ExampleGen splits train from
    eval by a hash of the bytes, a rewritten span would split differently.

    Raises:
      ValueError: As `to_example`.
    """
    return to_example(row, types).SerializeToString(deterministic=True)


def _write_csv(folder: str, rows: Sequence[Mapping[str, str]]) -> None:
    with open(os.path.join(folder, _CSV_FILE), "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _write_tfrecord(folder: str, rows: Iterable[Mapping[str, str]], types: Mapping[str, str]) -> None:
    import tensorflow as tf

    with tf.io.TFRecordWriter(os.path.join(folder, _TFRECORD_FILE), options="GZIP") as writer:
        for row in rows:
            writer.write(serialize(row, types))


def read_rows(path: str = SAMPLE_CSV) -> list[dict[str, str]]:
    """The rows of a CSV file with a header (default: the bundled taxi sample), as strings."""
    with open(path, newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="pipelines/configs/local.yaml", help="pipeline config YAML")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--source", default=SAMPLE_CSV, help="CSV to materialise (default: the tfx sample)")
    parser.add_argument("--num-spans", type=int, default=1, help="cut the rows by time into this many spans")
    parser.add_argument("--overwrite", action="store_true", help="replace span folders that already exist")
    args = parser.parse_args(argv)
    try:
        config = config_lib.load_config(args.config, args.overrides, check_local_paths=False)
        spans = split_into_spans(read_rows(args.source), args.num_spans)
        written = write_spans(spans, config.input, column_types(config.validation.schema_path), args.overwrite)
    except (config_lib.ConfigError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for folder in written:
        print(f"wrote {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
