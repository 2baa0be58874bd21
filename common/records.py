"""Reading TFRecord files: one compression rule and one reader, for every component and the trainer.

The rule: a file whose name ends in `.gz` is gzip-compressed, any other is
plain. It is how Beam's `CompressionTypes.AUTO` reads ImportExampleGen's input
files and how ExampleGen names its gzipped shards, so the same file reads the
same way everywhere. Each file's compression is decided on its own, so a mix
of gzipped and plain files reads too.

Files are read through tf.data's parallel interleave in blocks of records:
the interleave hands over one element at a time between its threads, so a
block per element keeps it at the speed of a serial read (`make bench-reads`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import tensorflow as tf

__all__ = [
    "DEFAULT_BLOCK",
    "GZIP_SUFFIX",
    "compression_type",
    "first_record",
    "list_files",
    "read_batches",
    "read_records",
]

GZIP_SUFFIX = ".gz"
# Records a file's reader hands to the interleave at a time.
DEFAULT_BLOCK = 1024


def compression_type(path: str) -> str:
    """TensorFlow's compression type of a TFRecord file: "GZIP" when its name ends in .gz, else ""."""
    return "GZIP" if path.endswith(GZIP_SUFFIX) else ""


def _compression_of(path: tf.Tensor) -> tf.Tensor:
    """`compression_type` inside a tf.data graph."""
    return tf.where(tf.strings.regex_full_match(path, r".*\.gz"), "GZIP", "")


def list_files(patterns: str | Sequence[str]) -> list[str]:
    """The files matching glob patterns (local or remote), sorted.

    Raises:
      FileNotFoundError: If no file matches, naming the patterns.
    """
    patterns = [patterns] if isinstance(patterns, str) else list(patterns)
    files = sorted(path for path in tf.io.gfile.glob(patterns) if not tf.io.gfile.isdir(path))
    if not files:
        raise FileNotFoundError(f"no input files match {patterns}")
    return files


def read_records(
    files: Sequence[str] | tf.data.Dataset,
    deterministic: bool = True,
    cycle_length: int = tf.data.AUTOTUNE,
    block_size: int = DEFAULT_BLOCK,
) -> tf.data.Dataset:
    """The serialized records of TFRecord files, each file read in blocks through a parallel interleave.

    Args:
      files: File paths, or a dataset of them (already sharded or shuffled).
      deterministic: Records in a fixed order (block by block from the open files) rather than as they come.
      cycle_length: Files open at once; AUTOTUNE lets tf.data choose, 1 reads them one after another.
      block_size: Records a file hands over at a time.
    """
    if not isinstance(files, tf.data.Dataset):
        files = tf.data.Dataset.from_tensor_slices(tf.constant(list(files), dtype=tf.string))
    blocks = files.interleave(
        lambda path: tf.data.TFRecordDataset(path, compression_type=_compression_of(path)).batch(block_size),
        cycle_length=cycle_length,
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=deterministic,
    )
    return blocks.unbatch()


def read_batches(paths: str | Sequence[str], batch_size: int) -> Iterator[np.ndarray]:
    """Batches of serialized records (numpy arrays of bytes), the files in the given order, each in order."""
    paths = [paths] if isinstance(paths, str) else list(paths)
    if not paths:
        return iter(())
    compressions = {compression_type(path) for path in paths}
    if len(compressions) == 1:
        # One compression for all: TensorFlow's reader goes from file to file itself, no interleave needed.
        (compression,) = compressions
        return tf.data.TFRecordDataset(paths, compression_type=compression).batch(batch_size).as_numpy_iterator()
    return read_records(paths, cycle_length=1).batch(batch_size).as_numpy_iterator()


def first_record(paths: Sequence[str]) -> bytes | None:
    """The first record of the first non-empty file, or None when every file is empty."""
    for path in paths:
        for record in read_records([path], cycle_length=1, block_size=1).take(1).as_numpy_iterator():
            return bytes(record)
    return None
