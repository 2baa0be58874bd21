"""Executors for TFX's ExampleGens: TFRecords imported in batches, a window of spans, and bad files named.

- `FastImportExecutor` (ImportExampleGen's, with `performance.fast_executors`):
  the import with batches of records as Beam's elements (batched.py: TFX's
  hash split and file layout, a fixed shuffled order). TensorFlow's reader
  fails at the cut of a truncated file, where Beam's stops there silently.
  Other configs (a partition feature, another payload) go through TFX's path.
- `WindowedImportExecutor`, `WindowedCsvExecutor`: TFX's ImportExampleGen and
  CsvExampleGen executors, plus the window.

Every one reads a window of spans when WindowedExampleGen gives it
`window_spans` (window.py; none: the newest span only, as TFX), and when
reading fails names each input file that cannot be read and why.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
from typing import Any

import apache_beam as beam
from absl import logging
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.example_gen import write_split
from tfx.components.example_gen.csv_example_gen import executor as csv_executor
from tfx.components.example_gen.import_example_gen import executor as import_executor
from tfx.components.util import examples_utils
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from common import spans as spans_lib
from common import tfx_compat
from components import artifacts
from components.example_gen import batched, diagnose, window

__all__ = [
    "WINDOW_PATTERN_KEY",
    "WINDOW_SPANS_KEY",
    "FastImportExecutor",
    "InputFileError",
    "WindowedCsvExecutor",
    "WindowedImportExecutor",
    "input_files",
]

# Parameters: the window's size, and the input pattern with {SPAN} (the driver resolves input_config's).
WINDOW_SPANS_KEY = "window_spans"
WINDOW_PATTERN_KEY = "window_pattern"
# Compressed input bytes per output shard (~0.6M rows of the sample): a shard is ordered in memory.
_SHARD_INPUT_BYTES = 32 << 20
# Where the batched import spills records between reading and writing (batched.py), under the output.
_SPILL_DIR = ".spill"


class InputFileError(RuntimeError):
    """Input files cannot be read; the message names each file and why."""


def input_files(exec_properties: dict) -> list[str]:
    """The files this execution reads: each split's pattern (span resolved by the driver), and older window spans."""
    return [path for files in _window_files(exec_properties) for path in files]


def _window_files(exec_properties: dict) -> list[list[str]]:
    """Each window position's files, newest first; [] for a position the window has no span for yet."""
    source = example_gen_pb2.Input()
    proto_utils.json_to_proto(exec_properties[standard_component_specs.INPUT_CONFIG_KEY], source)
    base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
    newest = [path for split in source.splits for path in _files(base, split.pattern)]
    spans = _spans(exec_properties)
    pattern = exec_properties.get(WINDOW_PATTERN_KEY) or ""
    older = [
        _files(base, spans_lib.span_pattern(pattern, spans[k])) if k < len(spans) else []
        for k in range(1, _window_size(exec_properties))
    ]
    return [newest, *older]


def _files(base: str, pattern: str) -> list[str]:
    return sorted(path for path in fileio.glob(os.path.join(base, pattern)) if not fileio.isdir(path))


def _window_size(exec_properties: dict) -> int:
    return int(exec_properties.get(WINDOW_SPANS_KEY) or 1)


def _spans(exec_properties: dict) -> list[int]:
    """The spans this execution reads, newest (the driver's) first."""
    newest = int(exec_properties.get(example_gen_utils.SPAN_PROPERTY_NAME) or 0)
    size = _window_size(exec_properties)
    if size <= 1:
        return [newest]
    base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
    return spans_lib.window_spans(base, exec_properties[WINDOW_PATTERN_KEY], newest, size)


def _split_buckets(exec_properties: dict) -> tuple[example_gen_pb2.SplitConfig, list[int]]:
    """The output's hash split, and its cumulative buckets (e.g. [2, 3] for 2 train, 1 eval)."""
    output_config = example_gen_pb2.Output()
    proto_utils.json_to_proto(exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], output_config)
    splits = output_config.split_config.splits
    return output_config.split_config, [
        sum(split.hash_buckets for split in splits[: i + 1]) for i in range(len(splits))
    ]


def _partition(record, num_partitions: int, buckets: list[int]) -> int:
    """TFX's partition of a record without a partition feature: sha256 of its bytes over the hash buckets."""
    key = record if isinstance(record, bytes) else record.SerializeToString(deterministic=True)
    return batched.partition_of(hashlib.sha256(key).digest(), buckets)


class _WindowedExecutor:
    """Mixed into a TFX ExampleGen executor: reads the window's older spans too, names unreadable files.

    Each older span keeps the hash partition it had when it was the newest, as
    two splits (`older<k>_train`, `older<k>_eval`); the Examples record the
    spans read and each split's identity (artifacts.SPANS_PROPERTY, IDENTITIES_PROPERTY).
    """

    INPUT_FORMAT = "tfrecord"

    def Do(self, input_dict: dict[str, list[Any]], output_dict: dict[str, list[Any]], exec_properties: dict) -> None:
        self._examples = artifact_utils.get_single_instance(output_dict[standard_component_specs.EXAMPLES_KEY])
        _diagnosed(lambda: self._generate(input_dict, output_dict, exec_properties), self.INPUT_FORMAT, exec_properties)
        self._record_window(exec_properties)

    def _generate(self, input_dict: dict, output_dict: dict, exec_properties: dict) -> None:
        super().Do(input_dict, output_dict, exec_properties)

    def GenerateExamplesByBeam(self, pipeline: beam.Pipeline, exec_properties: dict) -> dict:
        splits = super().GenerateExamplesByBeam(pipeline, exec_properties)
        size = _window_size(exec_properties)
        if size <= 1:
            return splits
        split_config, buckets = _split_buckets(exec_properties)
        if split_config.HasField("partition_feature_name"):
            raise ValueError(
                "a window of spans splits by hash: output_config's partition_feature_name is not supported"
            )
        read = self.GetInputSourceToExamplePTransform()
        pattern = exec_properties[WINDOW_PATTERN_KEY]
        parts = window.window_parts(_spans(exec_properties), size)[2:]
        for k in range(1, size):
            names = [f"older{k}_{split.name}" for split in split_config.splits]
            span = next(part.span for part in parts if part.split == names[0])
            if span is None:
                for name in names:
                    splits[name] = pipeline | f"Empty[{name}]" >> beam.Create([])
                continue
            # The same hash partition the span had when it was the newest: train and eval rows stay put.
            partitioned = (
                pipeline
                | f"InputToRecord[older{k}]" >> read(exec_properties, spans_lib.span_pattern(pattern, span))
                | f"SplitData[older{k}]" >> beam.Partition(_partition, len(buckets), buckets)
            )
            for index, name in enumerate(names):
                splits[name] = partitioned[index]
        # TFX's Do named the output's splits (train, eval) before calling this, and writes only named splits.
        self._examples.split_names = artifact_utils.encode_split_names(list(splits))
        return splits

    def _record_window(self, exec_properties: dict) -> None:
        spans = _spans(exec_properties)
        parts = window.window_parts(spans, _window_size(exec_properties))
        base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
        pattern = exec_properties.get(WINDOW_PATTERN_KEY) or ""
        output_config = exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY]
        identities = {}
        for part in parts:
            fingerprint = (
                spans_lib.span_fingerprint(base, pattern, part.span)
                if pattern and part.span is not None
                else (exec_properties.get(example_gen_utils.FINGERPRINT_PROPERTY_NAME) or "")
            )
            identity = part.identity(str(fingerprint)[-16:], hashlib.sha256(output_config.encode()).hexdigest()[:8])
            if identity:
                identities[part.split] = identity
        self._examples.split_names = artifact_utils.encode_split_names([part.split for part in parts])
        self._examples.set_string_custom_property(artifacts.SPANS_PROPERTY, json.dumps(spans))
        self._examples.set_string_custom_property(artifacts.IDENTITIES_PROPERTY, json.dumps(identities))


def _raise_for(bad: list[tuple[str, str]]) -> None:
    path, reason = bad[0]
    others = f" (and {len(bad) - 1} more file(s), below)" if len(bad) > 1 else ""
    lines = [f"{path}: {reason}{others}. Fix or remove the file and run again."]
    lines += [f"  {other}: {why}" for other, why in bad[1:]]
    raise InputFileError("\n".join(lines))


def _diagnosed(do, input_format: str, exec_properties: dict) -> None:
    """Runs an ExampleGen's work; when it fails, reads every input file again to name the ones that cannot be read."""
    try:
        do()
    except Exception as error:
        logging.info("ExampleGen failed (%s); checking each input file", error)
        bad = diagnose.unreadable_files(input_files(exec_properties), input_format)
        if not bad:
            raise
        try:
            _raise_for(bad)
        except InputFileError as named:
            raise named from error


class WindowedImportExecutor(_WindowedExecutor, import_executor.Executor):
    """TFX's ImportExampleGen executor over a window of spans; an unreadable file fails with its name."""


class WindowedCsvExecutor(_WindowedExecutor, csv_executor.Executor):
    """TFX's CsvExampleGen executor over a window of spans; an unreadable file fails with its name and the reason."""

    INPUT_FORMAT = "csv"


class FastImportExecutor(WindowedImportExecutor):
    """ImportExampleGen's work in batches of records (batched.py), over a window of spans; bad files named."""

    def _generate(self, input_dict: dict, output_dict: dict, exec_properties: dict) -> None:
        split_config, buckets = _split_buckets(exec_properties)
        output_format = exec_properties.get(standard_component_specs.OUTPUT_DATA_FORMAT_KEY)
        if (
            split_config.HasField("partition_feature_name")
            or not split_config.splits
            or output_format not in (None, example_gen_pb2.FORMAT_TF_EXAMPLE)
        ):
            super()._generate(input_dict, output_dict, exec_properties)
            return
        self._import(exec_properties, [split.name for split in split_config.splits], buckets)

    def _import(self, exec_properties: dict, split_names: list[str], buckets: list[int]) -> None:
        older = range(1, _window_size(exec_properties))
        position_names = [split_names, *([f"older{k}_{name}" for name in split_names] for k in older)]
        sources = list(zip(position_names, _window_files(exec_properties), strict=True))
        names = [name for part_names, _ in sources for name in part_names]
        self._examples.split_names = artifact_utils.encode_split_names(names)
        split_uris = {name: artifact_utils.get_split_uri([self._examples], name) for name in names}
        files = [path for _, paths in sources for path in paths]
        num_shards = max(1, math.ceil(sum(fileio.stat(path).length for path in files) / _SHARD_INPUT_BYTES))
        for uri in split_uris.values():
            fileio.makedirs(uri)
        # Beside the splits, on the same storage (shared by every worker of a cluster runner); gone afterwards.
        spill_dir = os.path.join(self._examples.uri, _SPILL_DIR)
        fileio.makedirs(spill_dir)
        try:
            with tfx_compat.make_beam_pipeline(self) as pipeline:
                _ = (
                    pipeline
                    | "Files" >> beam.Create([(part_names, path) for part_names, paths in sources for path in paths])
                    | "ImportAndSplit" >> batched.ImportAndSplit(buckets, split_uris, num_shards, spill_dir)
                )
        finally:
            fileio.rmtree(spill_dir)
        for uri in split_uris.values():
            if not fileio.listdir(uri):
                with fileio.open(os.path.join(uri, batched.empty_split_file()), "wb") as empty:
                    empty.write(gzip.compress(b""))
        examples_utils.set_payload_format(self._examples, example_gen_pb2.FORMAT_TF_EXAMPLE)
        examples_utils.set_file_format(
            self._examples, write_split.to_file_format_str(example_gen_pb2.FORMAT_TFRECORDS_GZIP)
        )
