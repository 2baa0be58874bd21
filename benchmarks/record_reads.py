"""Benchmark: reading gzipped TFRecords record by record through tf.data's parallel interleave, against blocks.

  python -m benchmarks.record_reads [--records 1000000] [--files 2]

Writes `--files` gzipped TFRecord files of distinct random records (about
the size of a sample row) to a temporary folder, then reads all of them three
ways and prints records/s and each way's ratio to the first:
- one record at a time through a parallel interleave (`num_parallel_reads`,
  what the trainer, the gate and the Evaluator did before);
- serially, file after file (`TFRecordDataset(files)`);
- `common.records.read_records`: the same interleave, each file read in blocks of records.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import tensorflow as tf

from common import records

_RECORD_BYTES = 300
_BATCH = 8192


def _write(folder: str, num_records: int, num_files: int) -> list[str]:
    rng = np.random.default_rng(0)
    paths = []
    for index in range(num_files):
        paths.append(os.path.join(folder, f"part-{index}.gz"))
        with tf.io.TFRecordWriter(paths[-1], options="GZIP") as writer:
            for _ in range(num_records // num_files):
                writer.write(rng.integers(0, 16, _RECORD_BYTES, dtype=np.uint8).tobytes())
    return paths


def _records_per_second(dataset: tf.data.Dataset) -> float:
    started, count = time.perf_counter(), 0
    for batch in dataset.batch(_BATCH):
        count += int(batch.shape[0])
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        paths = _write(folder, args.records, args.files)
        ways = {
            "record by record, parallel interleave": tf.data.TFRecordDataset(
                paths, compression_type="GZIP", num_parallel_reads=tf.data.AUTOTUNE
            ),
            "serial": tf.data.TFRecordDataset(paths, compression_type="GZIP"),
            "read_records (blocks, parallel)": records.read_records(paths),
        }
        rates = {name: _records_per_second(dataset) for name, dataset in ways.items()}
    base = next(iter(rates.values()))
    print(f"\n{args.records:,} records in {args.files} gzipped files, {os.cpu_count()} cores:\n")
    print("| read | records/s | ratio |\n| --- | --- | --- |")
    for name, rate in rates.items():
        print(f"| {name} | {rate:,.0f} | {rate / base:.1f} |")


if __name__ == "__main__":
    main()
