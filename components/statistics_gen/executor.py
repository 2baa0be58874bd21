"""FastStatisticsExecutor: TFX's StatisticsGen executor reading the splits in TensorFlow batches.

An executor swap for the stock StatisticsGen (`performance.fast_executors`).
The statistics are TFDV's `GenerateStatistics` over every split not excluded,
written where and as TFX's executor writes them (tests compare the two); the
examples are read through `BatchedTFExampleRecord` (components/batched_tfxio.py)
rather than Beam's per-record TFRecord source. Other payload formats, and
artifacts with custom split patterns, go through TFX's executor unchanged.

When TFDV fails on a feature whose value type differs between examples (its
message names neither the feature nor the data), the examples are scanned
and the error names the feature and where to look (type_conflicts.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import tensorflow_data_validation as tfdv
from absl import logging
from tfx.components.statistics_gen import executor as statistics_gen_executor
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.components.util import examples_utils
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, json_utils

from common import records, tfx_compat
from components.batched_tfxio import BatchedTFExampleRecord
from components.statistics_gen import type_conflicts

__all__ = ["FastStatisticsExecutor"]

_TELEMETRY_DESCRIPTOR = "StatisticsGen"
_SCAN_BATCH = 8192


class FastStatisticsExecutor(statistics_gen_executor.Executor):
    """Computes statistics as TFX does, reading in batches; on a type conflict, raises naming the features."""

    def Do(self, input_dict: dict[str, list[Any]], output_dict: dict[str, list[Any]], exec_properties: dict) -> None:
        try:
            self._generate(input_dict, output_dict, exec_properties)
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

    def _generate(self, input_dict: dict[str, list[Any]], output_dict: dict[str, list[Any]], exec_properties: dict):
        (examples,) = input_dict[standard_component_specs.EXAMPLES_KEY]
        tf_examples = examples_utils.get_payload_format(examples) == example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE
        if not tf_examples or examples.has_custom_property(examples_utils.CUSTOM_SPLIT_PATTERN_PROPERTY_NAME):
            super().Do(input_dict, output_dict, exec_properties)
            return
        excluded = json_utils.loads(exec_properties.get(standard_component_specs.EXCLUDE_SPLITS_KEY) or "null") or []
        splits = [s for s in artifact_utils.decode_split_names(examples.split_names) if s not in excluded]
        if not splits:
            raise ValueError(
                f"no split of {examples.uri} to compute statistics of: all of them are excluded {excluded}"
            )
        (statistics,) = output_dict[standard_component_specs.STATISTICS_KEY]
        statistics.split_names = artifact_utils.encode_split_names(splits)
        statistics.span = examples.span
        options = _stats_options(input_dict, exec_properties)
        with tfx_compat.make_beam_pipeline(self) as pipeline:
            for split in splits:
                pattern = io_utils.all_files_pattern(artifact_utils.get_split_uri([examples], split))
                output = os.path.join(
                    artifact_utils.get_split_uri([statistics], split), stats_artifact_utils.BINARY_PB_BASENAME
                )
                logging.info("Statistics of split %s (%s) to %s", split, pattern, output)
                source = BatchedTFExampleRecord(pattern, telemetry_descriptors=[_TELEMETRY_DESCRIPTOR])
                _ = (
                    pipeline
                    | f"Read[{split}]" >> source.BeamSource(options.desired_batch_size)
                    | f"GenerateStatistics[{split}]" >> tfdv.GenerateStatistics(options)
                    | f"WriteStatistics[{split}]" >> tfdv.WriteStatisticsToBinaryFile(output)
                )


def _stats_options(input_dict: dict[str, list[Any]], exec_properties: dict) -> tfdv.StatsOptions:
    """The component's StatsOptions, with the schema input's schema when it has one."""
    options_json = exec_properties.get(standard_component_specs.STATS_OPTIONS_JSON_KEY)
    options = tfdv.StatsOptions.from_json(options_json) if options_json else tfdv.StatsOptions()
    if input_dict.get(standard_component_specs.SCHEMA_KEY):
        if options.schema:
            raise ValueError("a schema came both as an input and in stats_options: give at most one")
        (schema,) = input_dict[standard_component_specs.SCHEMA_KEY]
        options.schema = io_utils.SchemaReader().read(io_utils.get_only_uri_in_dir(schema.uri))
    return options


def _records(examples) -> Iterator[tuple[str, bytes]]:
    """(location, serialized tf.Example) for every record of every split, in file order."""
    for split in artifact_utils.decode_split_names(examples.split_names):
        split_uri = artifact_utils.get_split_uri([examples], split)
        for path in sorted(fileio.glob(io_utils.all_files_pattern(split_uri))):
            rows = (record for batch in records.read_batches(path, _SCAN_BATCH) for record in batch)
            for index, record in enumerate(rows):
                yield f"{os.path.relpath(path, examples.uri)} record {index}", record
