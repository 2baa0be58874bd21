"""Executors of our ExampleGens: TFX's, reading a window of spans and naming any file that cannot be read."""

from __future__ import annotations

import gzip
import json
import math
import os
from typing import Any

import apache_beam as beam
from absl import logging
from tfx.components.example_gen import base_example_gen_executor, write_split
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.example_gen.csv_example_gen import executor as csv_executor
from tfx.components.example_gen.import_example_gen import executor as import_executor
from tfx.components.util import examples_utils
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from components.example_gen import batched, diagnose, window

__all__ = [
    "IDENTITIES_PROPERTY",
    "WINDOW_PATTERN_KEY",
    "WINDOW_PROPERTY",
    "WINDOW_SPANS_KEY",
    "CsvExecutor",
    "InputFileError",
    "TFRecordExecutor",
    "input_files",
]

# Parameters: the window's size, and the input pattern with {SPAN} (the driver resolves input_config's).
WINDOW_SPANS_KEY = "window_spans"
WINDOW_PATTERN_KEY = "window_pattern"
# Compressed input bytes per output shard (~0.6M rows of the sample): a shard is ordered in memory.
_SHARD_INPUT_BYTES = 32 << 20
# Where the batched import spills records between reading and writing (batched.py), under the output.
_SPILL_DIR = ".spill"
# Custom properties of the Examples artifact: the spans read (newest first), and each split's identity.
WINDOW_PROPERTY = "window_spans"
IDENTITIES_PROPERTY = "split_identities"


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
        _files(base, window.span_pattern(pattern, spans[k])) if k < len(spans) else []
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
    return window.window_spans(base, exec_properties[WINDOW_PATTERN_KEY], newest, size)


class _WindowMixin:
    """Adds the older spans of the window as splits, and records the spans read and each split's identity."""

    def GenerateExamplesByBeam(self, pipeline: beam.Pipeline, exec_properties: dict) -> dict:
        splits = super().GenerateExamplesByBeam(pipeline, exec_properties)
        size = _window_size(exec_properties)
        if size <= 1:
            return splits
        output_config = example_gen_pb2.Output()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], output_config)
        split_config = output_config.split_config
        buckets = [sum(s.hash_buckets for s in split_config.splits[: i + 1]) for i in range(len(split_config.splits))]
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
                | f"InputToRecord[older{k}]" >> read(exec_properties, window.span_pattern(pattern, span))
                | f"SplitData[older{k}]"
                >> beam.Partition(base_example_gen_executor._PartitionFn, len(buckets), buckets, split_config)
            )
            for index, name in enumerate(names):
                splits[name] = partitioned[index]
        # TFX's Do named the output's splits (train, eval) before calling this, and writes only named splits.
        self._examples.split_names = artifact_utils.encode_split_names(list(splits))
        return splits

    def _record_window(self, output_dict: dict, exec_properties: dict) -> None:
        examples = artifact_utils.get_single_instance(output_dict[standard_component_specs.EXAMPLES_KEY])
        spans = _spans(exec_properties)
        size = _window_size(exec_properties)
        parts = window.window_parts(spans, size) if size > 1 else window.window_parts(spans, 1)
        base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
        pattern = exec_properties.get(WINDOW_PATTERN_KEY) or ""
        output_config = exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY]
        identities = {}
        for part in parts:
            fingerprint = (
                window.span_fingerprint(base, pattern, part.span)
                if pattern and part.span is not None
                else (exec_properties.get(example_gen_utils.FINGERPRINT_PROPERTY_NAME) or "")
            )
            identity = part.identity(str(fingerprint)[-16:], _digest(output_config))
            if identity:
                identities[part.split] = identity
        examples.split_names = artifact_utils.encode_split_names([part.split for part in parts])
        examples.set_string_custom_property(WINDOW_PROPERTY, json.dumps(spans))
        examples.set_string_custom_property(IDENTITIES_PROPERTY, json.dumps(identities))


def _digest(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _raise_for(bad: list[tuple[str, str]]) -> None:
    path, reason = bad[0]
    others = f" (and {len(bad) - 1} more file(s), below)" if len(bad) > 1 else ""
    lines = [f"{path}: {reason}{others}. Fix or remove the file and run again."]
    lines += [f"  {other}: {why}" for other, why in bad[1:]]
    raise InputFileError("\n".join(lines))


def _diagnosed(do, input_format: str, exec_properties: dict) -> None:
    """Runs an ExampleGen's work, naming the input files that cannot be read.

    The files are only read again when it fails. TFRecord input is imported
    by TensorFlow's reader (batched.py), which fails at the cut of a
    truncated file (Beam's reader stopped there silently, ingesting part of
    the file as if it were whole) and checks each file's first record.
    """
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


class TFRecordExecutor(_WindowMixin, import_executor.Executor):
    """ImportExampleGen over a window of spans, in batches (batched.py); an unreadable file fails with its name."""

    def Do(self, input_dict: dict[str, list[Any]], output_dict: dict[str, list[Any]], exec_properties: dict) -> None:
        self._examples = artifact_utils.get_single_instance(output_dict[standard_component_specs.EXAMPLES_KEY])
        _diagnosed(lambda: self._import(exec_properties), "tfrecord", exec_properties)
        self._record_window(output_dict, exec_properties)

    def _import(self, exec_properties: dict) -> None:
        output_config = example_gen_pb2.Output()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], output_config)
        splits = output_config.split_config.splits
        buckets = [sum(split.hash_buckets for split in splits[: i + 1]) for i in range(len(splits))]
        split_names = [split.name for split in splits]
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
            with self._make_beam_pipeline() as pipeline:
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


class CsvExecutor(_WindowMixin, csv_executor.Executor):
    """CsvExampleGen's executor over a window of spans; an unreadable file fails with its name and the reason."""

    def Do(self, input_dict: dict[str, list[Any]], output_dict: dict[str, list[Any]], exec_properties: dict) -> None:
        self._examples = artifact_utils.get_single_instance(output_dict[standard_component_specs.EXAMPLES_KEY])
        _diagnosed(
            lambda: super(CsvExecutor, self).Do(input_dict, output_dict, exec_properties),
            "csv",
            exec_properties,
        )
        self._record_window(output_dict, exec_properties)
