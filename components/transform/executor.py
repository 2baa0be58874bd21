"""SpanCachedTransform's executor: TFX's Transform, whose analyzer cache follows the data, not the path.

TFX keys each analysed dataset of its analyzer cache by the split's file
pattern, which is new with every Examples artifact: across runs, nothing is
ever reused. Our ExampleGen records an identity per split (a span's
fingerprint and which hash partition of it: components/example_gen/window.py);
this executor keys each dataset by that identity, so the older spans of a
rolling window, analysed in earlier runs, come from the cache. Entries are also
keyed by the preprocessing_fn's analyzers, so a code change recomputes.

It also reads the examples through `BatchedTFExampleRecord`
(components/batched_tfxio.py): TensorFlow's reader in batches instead of
Beam's per-record TFRecord source; the decoding is the same. Both live in
TFX's TransformProcessor, which TFX's Executor.Do makes by its module-level
name with no hook to pass another: `_processor` points that name at
`Processor` while Do runs. (Before, these overrides sat on the Executor,
where TFX never called them: the cache was keyed by file path, never hit.)

The cache lives in one folder (a parameter, so the component's cache key stays
the same from run to run; passed as a resolved input artifact it would change
with every run, and an unchanged re-run would re-run Transform). After a run
the folder holds exactly the entries of the current window.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Iterator
from typing import Any

from absl import logging
from tensorflow_transform.beam import analyzer_cache
from tfx.components.transform import executor as transform_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.utils import io_utils
from tfx_bsl.tfxio import tf_example_record

from components.batched_tfxio import BatchedTFExampleRecord
from components.example_gen.executor import IDENTITIES_PROPERTY

__all__ = ["ANALYZER_CACHE_DIR_KEY", "Executor", "Processor", "dataset_identities"]

ANALYZER_CACHE_DIR_KEY = "analyzer_cache_dir"


def dataset_identities(examples_artifacts) -> dict[str, str]:
    """{file pattern of a split, as Transform analyses it: the split's identity} of every split that has one."""
    identities = {}
    for examples in examples_artifacts:
        recorded = examples.get_string_custom_property(IDENTITIES_PROPERTY)
        for split, identity in json.loads(recorded or "{}").items():
            identities[io_utils.all_files_pattern(artifact_utils.get_split_uri([examples], split))] = identity
    return identities


class Executor(transform_executor.Executor):
    """Transform with analyzer-cache keys taken from the Examples' split identities, reading in batches."""

    def Do(self, input_dict: dict[str, list[Any]], output_dict: dict[str, list[Any]], exec_properties: dict) -> None:
        identities = dataset_identities(input_dict[standard_component_specs.EXAMPLES_KEY])
        shared = exec_properties.get(ANALYZER_CACHE_DIR_KEY)
        if shared and fileio.exists(shared):
            previous = standard_artifacts.TransformCache()
            previous.uri = shared
            input_dict = {**input_dict, standard_component_specs.ANALYZER_CACHE_KEY: [previous]}
        with _processor(identities):
            super().Do(input_dict, output_dict, exec_properties)
        updated = output_dict.get(standard_component_specs.UPDATED_ANALYZER_CACHE_KEY)
        if shared and updated:
            _replace_folder(artifact_utils.get_single_uri(updated), shared)


@contextlib.contextmanager
def _processor(identities: dict[str, str]) -> Iterator[None]:
    """TFX's Executor.Do ends in `TransformProcessor().Transform(...)`, a module-level name and no hook:
    while it runs, that name makes a `Processor` with this run's identities (restored afterwards)."""
    stock = transform_executor.TransformProcessor
    transform_executor.TransformProcessor = functools.partial(Processor, identities)
    try:
        yield
    finally:
        transform_executor.TransformProcessor = stock


class Processor(transform_executor.TransformProcessor):
    """TFX's TransformProcessor, keying cached datasets by split identity and reading tf.Examples in batches.

    Args:
      identities: From `dataset_identities`.
    """

    def __init__(self, identities: dict[str, str]):
        super().__init__()
        self._identities = identities

    def _MakeDatasetList(self, file_patterns, *args, **kwargs):
        datasets = super()._MakeDatasetList(file_patterns, *args, **kwargs)
        for dataset in datasets:
            identity = self._identities.get(dataset.file_pattern)
            if identity and dataset.dataset_key.is_cached:
                dataset.dataset_key = analyzer_cache.DatasetKey(identity)
                logging.info("Analyzer cache key of %s: %s", dataset.file_pattern, identity)
        return datasets

    def _CreateTFXIO(self, dataset, schema):
        tfxio = super()._CreateTFXIO(dataset, schema)
        if type(tfxio) is not tf_example_record.TFExampleRecord:
            return tfxio
        return BatchedTFExampleRecord(
            file_pattern=dataset.file_pattern,
            schema=schema,
            raw_record_column_name=tfxio.raw_record_column_name,
            telemetry_descriptors=tfxio.telemetry_descriptors,
        )


def _replace_folder(source: str, target: str) -> None:
    """Makes `target` a copy of `source`: the cache of the window just analysed, nothing older."""
    staging = f"{target.rstrip('/')}.new"
    if fileio.exists(staging):
        fileio.rmtree(staging)
    io_utils.copy_dir(source, staging)
    if fileio.exists(target):
        fileio.rmtree(target)
    fileio.rename(staging, target)
