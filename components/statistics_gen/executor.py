"""Executor: TFX's StatisticsGen, whose failures on mixed value types name the feature."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import tensorflow as tf
from absl import logging
from tfx.components.statistics_gen import executor as statistics_gen_executor
from tfx.components.util import examples_utils
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils

from components.statistics_gen import type_conflicts

__all__ = ["Executor"]


class Executor(statistics_gen_executor.Executor):
    """Computes statistics as TFX does; on a type conflict, scans the examples and raises naming the features."""

    def Do(self, input_dict: dict[str, list[Any]], output_dict: dict[str, list[Any]], exec_properties: dict) -> None:
        try:
            super().Do(input_dict, output_dict, exec_properties)
        except Exception as error:
            if not type_conflicts.looks_like_type_conflict(str(error)):
                raise
            (examples,) = input_dict[standard_component_specs.EXAMPLES_KEY]
            if examples_utils.get_payload_format(examples) != example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE:
                raise
            logging.info("StatisticsGen failed on value types (%s); scanning %s for the feature", error, examples.uri)
            conflicts = type_conflicts.find_type_conflicts(_records(examples))
            if not conflicts:
                raise
            raise type_conflicts.DataTypeError(type_conflicts.describe(conflicts, examples.uri)) from error


def _records(examples) -> Iterator[tuple[str, bytes]]:
    """(location, serialized tf.Example) for every record of every split, in file order."""
    for split in artifact_utils.decode_split_names(examples.split_names):
        split_uri = artifact_utils.get_split_uri([examples], split)
        for path in sorted(fileio.glob(io_utils.all_files_pattern(split_uri))):
            compression = "GZIP" if path.endswith(".gz") else ""
            dataset = tf.data.TFRecordDataset(path, compression_type=compression)
            for index, record in enumerate(dataset.as_numpy_iterator()):
                yield f"{os.path.relpath(path, examples.uri)} record {index}", record
