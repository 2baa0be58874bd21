"""Which input files cannot be read, and why: run when ExampleGen fails, to name the file.

Beam reports an unreadable file as "Error -3 while decompressing data" or
"Not a valid TFRecord", naming no file. These functions read each input file
the way ExampleGen does (TFRecords with common/records.py's compression rule;
CSV: UTF-8 text with a header) and describe the first problem of each bad file.
"""

from __future__ import annotations

import concurrent.futures
import csv
import io
import os
import re
from collections.abc import Iterable

from common import records

__all__ = ["NOT_AN_EXAMPLE", "csv_problem", "is_example", "tfrecord_problem", "unreadable_files"]

NOT_AN_EXAMPLE = "its first record is not a serialized tf.Example"

_TF_MESSAGE = re.compile(r"\{\{function_node [^}]*\}\}\s*|\s*\[Op:[^\]]*\].*$")


# Records read per step of the whole-file pass: batched, it reads at TensorFlow's speed, not Python's.
_CHECK_BATCH = 65536


def is_example(record: bytes) -> bool:
    """Whether a record parses as a serialized tf.Example (the check ExampleGen makes of each file's first record)."""
    import tensorflow as tf

    try:
        tf.train.Example.FromString(record)
    except Exception:  # noqa: BLE001 - protobuf's DecodeError and friends
        return False
    return True


def tfrecord_problem(path: str) -> str | None:
    """Why a TFRecord file of tf.Example cannot be read, or None when it can.

    Reads the whole file (a truncated gzip file fails only at its cut) in large
    batches; only a file that fails is read again record by record, to say
    after how many records.
    """
    import tensorflow as tf

    try:
        first = records.first_record([path])
        if first is not None and not is_example(first):
            return NOT_AN_EXAMPLE
        for _ in records.read_batches(path, _CHECK_BATCH):
            pass
    except tf.errors.OpError:
        return _record_by_record_problem(path)
    return None


def _record_by_record_problem(path: str) -> str | None:
    """The failure of a file that failed a batched read, with the number of records read before it."""
    import tensorflow as tf

    count = 0
    try:
        for _ in records.read_records([path], cycle_length=1, block_size=1).as_numpy_iterator():
            count += 1
    except tf.errors.OpError as error:
        message = _TF_MESSAGE.sub("", error.message).strip()
        after = f"after {count} records" if count else "at the start"
        compressed = records.compression_type(path) == "GZIP"
        if "incorrect header check" in message or "inflate" in message:
            suffix = records.GZIP_SUFFIX
            return f"not gzip-compressed, but its name ends in {suffix}: write it with GZIP compression or rename it"
        if "truncated" in message or "EOF" in message:
            return f"truncated {after}: it ends in the middle of a record (an interrupted copy?)"
        if not compressed and count == 0:
            return f"not a TFRecord file ({message}); if it is gzipped, its name must end in {records.GZIP_SUFFIX}"
        return f"unreadable {after}: {message}"
    return None


def csv_problem(path: str) -> str | None:
    """Why a CSV file with a header cannot be read, or None when it can."""
    with open(path, "rb") as stream:
        data = stream.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        return f"not UTF-8 text (byte {error.start}: {data[error.start : error.start + 1]!r}); save it as UTF-8"
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if not header:
        return "empty: no header line"
    for line, row in enumerate(rows, start=2):
        if row and len(row) != len(header):
            return f"line {line} has {len(row)} fields, the header has {len(header)}"
    return None


def unreadable_files(paths: Iterable[str], input_format: str) -> list[tuple[str, str]]:
    """(path, reason) of every file that cannot be read, in the given order.

    Files are checked on a thread per core: TensorFlow's reader and zlib
    release the GIL, so a span of many files is checked in parallel.
    """
    check = csv_problem if input_format == "csv" else tfrecord_problem
    paths = list(paths)
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        problems = list(pool.map(check, paths))
    return [(path, problem) for path, problem in zip(paths, problems, strict=True) if problem]
