"""The corpus of bad inputs: each case, the data it writes, where the run must stop and what it must say.

Add a case by appending a `BadInput`: rows are edited before they are
written as span 1 (the taxi sample's first rows), or the written file itself
is edited. `stops_at` is the component that must fail, or CONFIG when the run
is refused before any component starts.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable

import tensorflow as tf

__all__ = ["CASES", "CONFIG", "BadInput"]

CONFIG = "(config)"
Rows = list[dict[str, str]]


@dataclasses.dataclass(frozen=True)
class BadInput:
    """One kind of bad input and the stop it must cause."""

    case: str
    input_format: str
    stops_at: str
    expected: tuple[str, ...]
    edit_rows: Callable[[Rows], Rows] | None = None
    edit_file: Callable[[pathlib.Path], None] | None = None
    num_rows: int = 2000


def _set(column: str, value: str, rows: slice) -> Callable[[Rows], Rows]:
    def edit(all_rows: Rows) -> Rows:
        for row in all_rows[rows]:
            row[column] = value
        return all_rows

    return edit


def _drop_column(column: str) -> Callable[[Rows], Rows]:
    def edit(rows: Rows) -> Rows:
        for row in rows:
            del row[column]
        return rows

    return edit


def _string_in_record(index: int, column: str) -> Callable[[pathlib.Path], None]:
    """Rewrites one record with a bytes value in a float column (the writer cannot produce this)."""

    def edit(path: pathlib.Path) -> None:
        records = list(tf.data.TFRecordDataset(str(path), compression_type="GZIP").as_numpy_iterator())
        bad = tf.train.Example.FromString(records[index])
        bad.features.feature[column].ClearField("float_list")
        bad.features.feature[column].bytes_list.value.append(b"abc")
        records[index] = bad.SerializeToString()
        with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
            for record in records:
                writer.write(record)

    return edit


def _overwrite(content: bytes) -> Callable[[pathlib.Path], None]:
    return lambda path: path.write_bytes(content)


def _truncate(path: pathlib.Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _append_bytes(content: bytes) -> Callable[[pathlib.Path], None]:
    return lambda path: path.write_bytes(path.read_bytes() + content)


def _remove(path: pathlib.Path) -> None:
    path.unlink()


def _scale(column: str, factor: float) -> Callable[[Rows], Rows]:
    """The column in other units: every present value times `factor` (valid against the schema)."""

    def edit(rows: Rows) -> Rows:
        return [{**row, column: repr(float(row[column]) * factor)} if row[column] else row for row in rows]

    return edit


def _fewer_positives(keep: float) -> Callable[[Rows], Rows]:
    """Keeps every `1/keep`-th row whose label (the sample's own expression) is positive: its share collapses."""
    from tests.conftest import taxi_task
    from trainer import expressions

    expression = expressions.parse(taxi_task().label.expression)

    def edit(rows: Rows) -> Rows:
        def positive(row) -> bool:
            columns = {name: float(row[name] or 0) for name in expression.columns}
            return bool(expression.evaluate(columns, expressions.NUMPY_OPS))

        positives = [row for row in rows if positive(row)]
        kept = {id(row) for row in positives[:: round(1 / keep)]}
        return [row for row in rows if not positive(row) or id(row) in kept]

    return edit


GATE, STATISTICS, EXAMPLE_GEN = "ValidationGate", "StatisticsGen", "ExampleGen"

CASES: tuple[BadInput, ...] = (
    # The data contract (ExampleValidator's anomalies).
    BadInput(
        "string_in_numeric_column", "csv", GATE, ("fare", "Unexpected data type"), _set("fare", "abc", slice(5, 6))
    ),
    BadInput("missing_required_column", "csv", GATE, ("payment_type", "Column dropped"), _drop_column("payment_type")),
    BadInput(
        "out_of_domain_category",
        "tfrecord",
        GATE,
        ("payment_type", "Unexpected string values", "Bitcoin"),
        _set("payment_type", "Bitcoin", slice(0, 50)),
    ),
    # What training cannot use (the gate's trainability checks).
    BadInput(
        "nan_in_a_numeric_input",
        "tfrecord",
        GATE,
        ("trip_miles (non-finite values)", "NaN in a model input"),
        _set("trip_miles", "nan", slice(10, 20)),
    ),
    BadInput(
        "infinity_in_a_numeric_input",
        "tfrecord",
        GATE,
        ("trip_miles (non-finite values)", "infinite values (min 0, max inf)"),
        _set("trip_miles", "inf", slice(3, 4)),
    ),
    BadInput(
        "too_few_examples",
        "tfrecord",
        GATE,
        ("Data validation failed on (dataset) (too few examples)", "fewer than validation.min_examples (100)"),
        num_rows=60,
    ),
    BadInput(
        "label_with_a_single_class",
        "tfrecord",
        GATE,
        ("(label) (a single class)", "has the label '0'"),
        _set("tips", "0", slice(None)),
    ),
    # Drift from the training data of the latest blessed model (the gate's drift checks).
    BadInput(
        "a_numeric_input_in_other_units",
        "tfrecord",
        GATE,
        ("fare (drift: Kolmogorov-Smirnov distance)", "from the training data of the latest blessed model"),
        _scale("fare", 3.0),
        # The rows the previous run trained on: the sample is grouped by place, so fewer rows would be other places.
        num_rows=3000,
    ),
    BadInput(
        "label_balance_collapsed",
        "tfrecord",
        GATE,
        ("(label) (drift: population stability index of the classes)",),
        _fewer_positives(0.1),
        num_rows=3000,
    ),
    # Values StatisticsGen cannot describe.
    BadInput(
        "mixed_value_types",
        "tfrecord",
        STATISTICS,
        ('Mixed value types in feature "fare"', "bytes_list in 1 example"),
        edit_file=_string_in_record(5, "fare"),
    ),
    # Files ExampleGen cannot read.
    BadInput(
        "file_not_gzip",
        "tfrecord",
        EXAMPLE_GEN,
        ("data.tfrecord.gz: not gzip-compressed",),
        edit_file=_overwrite(b"pickup_community_area,fare\n8,10.0\n"),
    ),
    BadInput("file_truncated", "tfrecord", EXAMPLE_GEN, ("data.tfrecord.gz: truncated after",), edit_file=_truncate),
    BadInput(
        "csv_not_utf8",
        "csv",
        EXAMPLE_GEN,
        ("data.csv: not UTF-8 text",),
        edit_file=_append_bytes("8,10.0,caf\u00e9\n".encode("latin-1")),
    ),
    BadInput("empty_input_folder", "tfrecord", CONFIG, ("input.path: no input files in",), edit_file=_remove),
)
