"""FastEvaluatorExecutor: TFX's Evaluator, with the metrics computed over whole batches instead of per example.

An executor swap for the stock Evaluator (`performance.fast_executors`). Same
inputs, exec properties and EvalConfig as TFX's executor, and the same files
(TFMA's readers read them) and blessing properties (the LatestBlessedModel
resolver and the Pusher read those); it unpacks the artifacts, scores and
computes the metrics (evaluate.py), and writes TFMA's files and the blessing.
It runs in the component's process with TensorFlow, not on the Beam runner;
an EvalConfig it does not compute is refused by name before any model loads.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import tensorflow as tf
import tensorflow_model_analysis as tfma
from absl import logging
from google.protobuf import json_format
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_model_analysis.proto import config_pb2
from tensorflow_model_analysis.writers import metrics_plots_and_validations_writer as tfma_writer
from tfx.components.evaluator import constants
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, path_utils, proto_utils

from components import artifacts
from components.evaluator import evaluate

__all__ = ["BATCH_SIZE", "FastEvaluatorExecutor"]

# Examples per batch each model scores: large enough that TensorFlow, not Python, sets the pace.
BATCH_SIZE = 8192
# The file names TFMA's writers use (the readers glob `<name>*`).
_METRICS_FILE = "metrics-00000-of-00001.tfrecord"
_VALIDATIONS_FILE = "validations-00000-of-00001.tfrecord"
_EVAL_CONFIG_FILE = "eval_config.json"
_DTYPES = {schema_pb2.INT: tf.int64, schema_pb2.FLOAT: tf.float32, schema_pb2.BYTES: tf.string}


class FastEvaluatorExecutor(base_executor.BaseExecutor):
    """Evaluates the candidate (and the baseline, when there is one) and blesses it when the thresholds pass."""

    def Do(self, input_dict: dict[str, list[Any]], output_dict: dict[str, list[Any]], exec_properties: dict) -> None:
        candidate = artifact_utils.get_single_instance(input_dict[standard_component_specs.MODEL_KEY])
        baselines = input_dict.get(standard_component_specs.BASELINE_MODEL_KEY) or []
        baseline = baselines[0] if baselines else None
        eval_config = _eval_config(exec_properties[standard_component_specs.EVAL_CONFIG_KEY], baseline is not None)
        evaluate.check_supported(eval_config)
        model_specs = {spec.name: spec for spec in eval_config.model_specs}
        paths = {
            spec.name: _serving_path(baseline if spec.is_baseline else candidate) for spec in eval_config.model_specs
        }
        slice_features = _slice_dtypes(eval_config, input_dict.get(standard_component_specs.SCHEMA_KEY))
        splits = json.loads(exec_properties.get(standard_component_specs.EXAMPLE_SPLITS_KEY) or "null") or [
            artifacts.EVAL_SPLIT
        ]
        files = _split_files(input_dict[standard_component_specs.EXAMPLES_KEY], splits)

        started = time.monotonic()
        scores, slices = evaluate.score(files, model_specs, paths, slice_features, BATCH_SIZE)
        num_rows = len(next(iter(scores.values())).labels)
        if num_rows == 0:
            raise ValueError(f"the {', '.join(splits)} split(s) hold no examples: {sorted(files)}")
        baseline_name = next((spec.name for spec in eval_config.model_specs if spec.is_baseline), None)
        results = evaluate.sliced_metrics(eval_config, scores, slices, baseline_name)
        validation = evaluate.validate(eval_config, results, rubber_stamp=baseline is None)
        seconds = time.monotonic() - started
        logging.info("Evaluated %d examples in %.1fs (%.0f/s)", num_rows, seconds, num_rows / max(seconds, 1e-9))

        output_uri = artifact_utils.get_single_uri(output_dict[standard_component_specs.EVALUATION_KEY])
        _write_outputs(output_uri, eval_config, results, validation, paths, files)
        blessing = artifact_utils.get_single_instance(output_dict[standard_component_specs.BLESSING_KEY])
        _bless(blessing, candidate, baseline, validation.validation_ok)
        logging.info("Blessed: %s (%s)", validation.validation_ok, blessing.uri)


def _eval_config(text: str, has_baseline: bool) -> tfma.EvalConfig:
    # As TFX's Evaluator: names the models (candidate, baseline) and, without a
    # baseline, drops the change thresholds (the first model is "rubber stamped").
    eval_config = tfma.EvalConfig()
    proto_utils.json_to_proto(text, eval_config)
    eval_config = tfma.utils.update_eval_config_with_defaults(eval_config, has_baseline=has_baseline, rubber_stamp=True)
    tfma.utils.verify_eval_config(eval_config)
    return eval_config


def _serving_path(model) -> str:
    return path_utils.serving_model_path(model.uri, path_utils.is_old_model_artifact(model))


def _slice_dtypes(eval_config: tfma.EvalConfig, schema_artifacts: list | None) -> dict[str, tf.dtypes.DType]:
    """The dtype of each slice feature, from the schema input (required when the config slices by a feature)."""
    sliced = [name for spec in eval_config.slicing_specs for name in spec.feature_keys]
    if not sliced:
        return {}
    if not schema_artifacts:
        raise ValueError(f"eval config slices by {sorted(set(sliced))}: give the Evaluator the schema input")
    schema_path = io_utils.get_only_uri_in_dir(artifact_utils.get_single_uri(schema_artifacts))
    schema = io_utils.SchemaReader().read(schema_path)
    types = {feature.name: feature.type for feature in schema.feature}
    dtypes = {}
    for spec in eval_config.slicing_specs:
        for name in spec.feature_keys:
            if types.get(name) not in _DTYPES:
                raise ValueError(f"slice feature {name!r} is not a feature of the schema {schema_path}")
            dtypes[name] = _DTYPES[types[name]]
    return dtypes


def _split_files(examples: list, splits: list[str]) -> list[str]:
    files = []
    for split in splits:
        for uri in artifact_utils.get_split_uris(examples, split):
            found = tf.io.gfile.glob(io_utils.all_files_pattern(uri))
            if not found:
                raise ValueError(f"the {split!r} split has no files under {uri}")
            files.extend(sorted(found))
    return files


def _write_outputs(output_uri, eval_config, results, validation, model_paths, files) -> None:
    """TFMA's output layout, so that tfma.load_eval_result and load_validation_result read it."""
    with tf.io.TFRecordWriter(os.path.join(output_uri, _METRICS_FILE)) as writer:
        for slice_metrics in results:
            writer.write(tfma_writer.convert_slice_metrics_to_proto(slice_metrics, None).SerializeToString())
    with tf.io.TFRecordWriter(os.path.join(output_uri, _VALIDATIONS_FILE)) as writer:
        writer.write(validation.SerializeToString())
    run = config_pb2.EvalRun(
        eval_config=eval_config,
        version=tfma.version.VERSION,
        data_location=",".join(files),
        file_format="tfrecord",
        model_locations=model_paths,
    )
    io_utils.write_string_file(os.path.join(output_uri, _EVAL_CONFIG_FILE), json_format.MessageToJson(run))


def _bless(blessing, candidate, baseline, blessed: bool) -> None:
    # The properties TFX's Evaluator sets: LatestBlessedModelStrategy finds the model by current_model_id.
    blessing.set_string_custom_property(constants.ARTIFACT_PROPERTY_CURRENT_MODEL_URI_KEY, candidate.uri)
    blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY, candidate.id)
    if baseline is not None:
        blessing.set_string_custom_property(constants.ARTIFACT_PROPERTY_BASELINE_MODEL_URI_KEY, baseline.uri)
        blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_BASELINE_MODEL_ID_KEY, baseline.id)
    name = constants.BLESSED_FILE_NAME if blessed else constants.NOT_BLESSED_FILE_NAME
    io_utils.write_string_file(os.path.join(blessing.uri, name), "")
    value = constants.BLESSED_VALUE if blessed else constants.NOT_BLESSED_VALUE
    blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY, value)
