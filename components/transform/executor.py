"""SpanCachedTransform's executor: TFX's Transform, whose analyzer cache follows the data, not the path.

TFX keys each analysed dataset of its analyzer cache by the split's file
pattern, which is new with every Examples artifact: across runs, nothing is
ever reused. Our ExampleGen records an identity per split (a span's
fingerprint and which hash partition of it: components/example_gen/window.py);
this executor keys each dataset by that identity, so the older spans of a
rolling window, analysed in earlier runs, come from the cache. Entries are also
keyed by the preprocessing_fn's analyzers, so a code change recomputes.

The cache lives in one folder (a parameter, so the component's cache key stays
the same from run to run; passed as a resolved input artifact it would change
with every run, and an unchanged re-run would re-run Transform). After a run
the folder holds exactly the entries of the current window.
"""

from __future__ import annotations

import json
from typing import Any

from absl import logging
from tensorflow_transform.beam import analyzer_cache
from tfx.components.transform import executor as transform_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.utils import io_utils

from components.example_gen.executor import IDENTITIES_PROPERTY

__all__ = ["ANALYZER_CACHE_DIR_KEY", "Executor", "dataset_identities"]

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
    """Transform with analyzer-cache keys taken from the Examples' split identities."""

    def Do(self, input_dict: dict[str, list[Any]], output_dict: dict[str, list[Any]], exec_properties: dict) -> None:
        self._identities = dataset_identities(input_dict[standard_component_specs.EXAMPLES_KEY])
        shared = exec_properties.get(ANALYZER_CACHE_DIR_KEY)
        if shared and fileio.exists(shared):
            previous = standard_artifacts.TransformCache()
            previous.uri = shared
            input_dict = {**input_dict, standard_component_specs.ANALYZER_CACHE_KEY: [previous]}
        super().Do(input_dict, output_dict, exec_properties)
        updated = output_dict.get(standard_component_specs.UPDATED_ANALYZER_CACHE_KEY)
        if shared and updated:
            _replace_folder(artifact_utils.get_single_uri(updated), shared)

    def _MakeDatasetList(self, file_patterns, *args, **kwargs):
        datasets = super()._MakeDatasetList(file_patterns, *args, **kwargs)
        for dataset in datasets:
            identity = getattr(self, "_identities", {}).get(dataset.file_pattern)
            if identity and dataset.dataset_key.is_cached:
                dataset.dataset_key = analyzer_cache.DatasetKey(identity)
                logging.info("Analyzer cache key of %s: %s", dataset.file_pattern, identity)
        return datasets


def _replace_folder(source: str, target: str) -> None:
    """Makes `target` a copy of `source`: the cache of the window just analysed, nothing older."""
    staging = f"{target.rstrip('/')}.new"
    if fileio.exists(staging):
        fileio.rmtree(staging)
    io_utils.copy_dir(source, staging)
    if fileio.exists(target):
        fileio.rmtree(target)
    fileio.rename(staging, target)
