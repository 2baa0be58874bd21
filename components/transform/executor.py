"""Transform executors: TFX's, reading tf.Examples in batches, and keying the analyzer cache by span.

- `FastTransformExecutor` (an executor swap for the stock Transform,
  `performance.fast_executors`): TFX's Transform, reading ExampleGen's splits
  through `BatchedTFExampleRecord` (components/batched_tfxio.py), TensorFlow's
  reader in batches, instead of Beam's per-record TFRecord source; the
  decoding and the analysis are TFX's, so is the transform graph.
- `SpanCachedTransformExecutor` (SpanCachedTransform's): the same, with an
  analyzer cache that follows the data. TFX keys each analysed dataset of its
  cache by the split's file pattern, which is new with every Examples
  artifact, so across runs nothing is ever reused. Our ExampleGen executors
  record an identity per split (a span's fingerprint and which hash partition
  of it: components/example_gen/window.py); this executor keys each dataset
  by it, so the older spans of a rolling window, analysed in earlier runs,
  come from the cache. TFT also keys entries by the preprocessing_fn's
  analyzers, so a code change recomputes. The cache lives in one folder (a
  parameter, so the component's cache key stays the same from run to run);
  after a run it holds exactly the entries of the current window.

TFX's Transform has no hook for either; common/tfx_compat.py's
`transform_hooks` provides both.
"""

from __future__ import annotations

import json
from typing import Any

from absl import logging
from tfx.components.transform import executor as transform_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.utils import io_utils
from tfx_bsl.tfxio import tf_example_record

from common import tfx_compat
from components import artifacts
from components.batched_tfxio import BatchedTFExampleRecord

__all__ = ["ANALYZER_CACHE_DIR_KEY", "FastTransformExecutor", "SpanCachedTransformExecutor", "dataset_identities"]

ANALYZER_CACHE_DIR_KEY = "analyzer_cache_dir"


def dataset_identities(examples_artifacts) -> dict[str, str]:
    """{file pattern of a split, as Transform analyses it: the split's identity} of every split that has one."""
    identities = {}
    for examples in examples_artifacts:
        recorded = examples.get_string_custom_property(artifacts.IDENTITIES_PROPERTY)
        for split, identity in json.loads(recorded or "{}").items():
            identities[io_utils.all_files_pattern(artifact_utils.get_split_uri([examples], split))] = identity
    return identities


def _batched(tfxio, file_pattern: str, schema):
    """TFX's TFXIO of a dataset, or the batched reader when TFX chose plain tf.Example records."""
    if type(tfxio) is not tf_example_record.TFExampleRecord:
        return tfxio
    return BatchedTFExampleRecord(
        file_pattern=file_pattern,
        schema=schema,
        raw_record_column_name=tfxio.raw_record_column_name,
        telemetry_descriptors=tfxio.telemetry_descriptors,
    )


class FastTransformExecutor(transform_executor.Executor):
    """TFX's Transform executor, reading tf.Examples in batches."""

    def Do(self, input_dict: dict[str, list[Any]], output_dict: dict[str, list[Any]], exec_properties: dict) -> None:
        with tfx_compat.transform_hooks(make_tfxio=_batched, dataset_key=lambda file_pattern: None):
            super().Do(input_dict, output_dict, exec_properties)


class SpanCachedTransformExecutor(transform_executor.Executor):
    """TFX's Transform executor reading in batches, with analyzer-cache keys taken from the splits' identities."""

    def Do(self, input_dict: dict[str, list[Any]], output_dict: dict[str, list[Any]], exec_properties: dict) -> None:
        identities = dataset_identities(input_dict[standard_component_specs.EXAMPLES_KEY])
        shared = exec_properties.get(ANALYZER_CACHE_DIR_KEY)
        if shared and fileio.exists(shared):
            previous = standard_artifacts.TransformCache()
            previous.uri = shared
            input_dict = {**input_dict, standard_component_specs.ANALYZER_CACHE_KEY: [previous]}

        def dataset_key(file_pattern: str) -> str | None:
            identity = identities.get(file_pattern)
            if identity:
                logging.info("Analyzer cache key of %s: %s", file_pattern, identity)
            return identity

        with tfx_compat.transform_hooks(make_tfxio=_batched, dataset_key=dataset_key):
            super().Do(input_dict, output_dict, exec_properties)
        updated = output_dict.get(standard_component_specs.UPDATED_ANALYZER_CACHE_KEY)
        if shared and updated:
            _replace_folder(artifact_utils.get_single_uri(updated), shared)


def _replace_folder(source: str, target: str) -> None:
    """Makes `target` a copy of `source`: the cache of the window just analysed, nothing older."""
    staging = f"{target.rstrip('/')}.new"
    if fileio.exists(staging):
        fileio.rmtree(staging)
    io_utils.copy_dir(source, staging)
    if fileio.exists(target):
        fileio.rmtree(target)
    fileio.rename(staging, target)
