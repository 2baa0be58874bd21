"""Executors of our ExampleGens: TFX's, with a failure that names the input file that cannot be read."""

from __future__ import annotations

import os
from typing import Any

from absl import logging
from tfx.components.example_gen.csv_example_gen import executor as csv_executor
from tfx.components.example_gen.import_example_gen import executor as import_executor
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

from components.example_gen import diagnose

__all__ = ["CsvExecutor", "InputFileError", "TFRecordExecutor", "input_files"]


class InputFileError(RuntimeError):
    """Input files cannot be read; the message names each file and why."""


def input_files(exec_properties: dict) -> list[str]:
    """The files this execution reads: each split's pattern (span resolved by the driver) under input_base."""
    source = example_gen_pb2.Input()
    proto_utils.json_to_proto(exec_properties[standard_component_specs.INPUT_CONFIG_KEY], source)
    base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
    files: list[str] = []
    for split in source.splits:
        files += sorted(path for path in fileio.glob(os.path.join(base, split.pattern)) if not fileio.isdir(path))
    return files


def _raise_for(bad: list[tuple[str, str]]) -> None:
    path, reason = bad[0]
    others = f" (and {len(bad) - 1} more file(s), below)" if len(bad) > 1 else ""
    lines = [f"{path}: {reason}{others}. Fix or remove the file and run again."]
    lines += [f"  {other}: {why}" for other, why in bad[1:]]
    raise InputFileError("\n".join(lines))


def _diagnosed(do, input_format: str, exec_properties: dict) -> None:
    """Runs TFX's Do, naming the input files that cannot be read.

    TFRecord files are checked first: Beam's reader stops silently at the cut
    of a truncated gzip file, so ExampleGen would ingest part of it as if it
    were whole. A CSV file is only read again when ExampleGen fails.
    """
    if input_format == "tfrecord":
        bad = diagnose.unreadable_files(input_files(exec_properties), input_format)
        if bad:
            _raise_for(bad)
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


class TFRecordExecutor(import_executor.Executor):
    """ImportExampleGen's executor; an unreadable file fails with its name and the reason."""

    def Do(self, input_dict: dict[str, list[Any]], output_dict: dict[str, list[Any]], exec_properties: dict) -> None:
        _diagnosed(
            lambda: super(TFRecordExecutor, self).Do(input_dict, output_dict, exec_properties),
            "tfrecord",
            exec_properties,
        )


class CsvExecutor(csv_executor.Executor):
    """CsvExampleGen's executor; an unreadable file fails with its name and the reason."""

    def Do(self, input_dict: dict[str, list[Any]], output_dict: dict[str, list[Any]], exec_properties: dict) -> None:
        _diagnosed(
            lambda: super(CsvExecutor, self).Do(input_dict, output_dict, exec_properties), "csv", exec_properties
        )
