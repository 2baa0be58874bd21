"""Executor of the validation gate: loads the anomalies, decides, and stops the run on failure."""

from __future__ import annotations

import json
import os
from typing import Any

from absl import logging
from tensorflow_metadata.proto.v0 import statistics_pb2
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.utils import io_utils

from common import records
from common import spans as spans_lib
from components import artifacts
from components.validation_gate import drift, gate, trainability
from components.validation_gate.component_keys import (
    ANOMALIES_KEY,
    BASELINE_MODEL_KEY,
    DRIFT_KEY,
    EXAMPLES_KEY,
    FAIL_ON_KEY,
    MIN_EXAMPLES_KEY,
    PASSED_PROPERTY,
    REPORT_FILE,
    SCHEMA_FILE,
    SCHEMA_KEY,
    STATISTICS_KEY,
    TASK_KEY,
    VALIDATED_SCHEMA_KEY,
    VERDICT_FILE,
    VERDICT_KEY,
)
from trainer.features import TaskSpec

__all__ = ["DataValidationError", "ValidationGateExecutor"]

_DEFAULT_MIN_EXAMPLES = 1
_LABEL_BATCH = 8192


class DataValidationError(RuntimeError):
    """The data has anomalies at or above the configured severity; the message is the report."""


class ValidationGateExecutor(base_executor.BaseExecutor):
    """Raises with the report when the data fails; otherwise writes the verdict and passes the schema on."""

    def Do(self, input_dict: dict[str, list[Any]], output_dict: dict[str, list[Any]], exec_properties: dict) -> None:
        anomalies = artifact_utils.get_single_instance(input_dict[ANOMALIES_KEY])
        splits = artifact_utils.decode_split_names(anomalies.split_names)
        by_split = {split: artifacts.load_anomalies(anomalies, split) for split in splits}
        fail_on = gate.Severity.parse(exec_properties[FAIL_ON_KEY])
        findings = list(gate.collect_findings(by_split))
        task_json = exec_properties.get(TASK_KEY)
        if task_json:
            # The labels are only computed from data that keeps the schema's contract.
            contract_holds = gate.decide(findings, fail_on).passed
            findings += _trainability(
                input_dict, exec_properties, TaskSpec.model_validate_json(task_json), contract_holds
            )
        if exec_properties.get(DRIFT_KEY) and input_dict.get(STATISTICS_KEY):
            findings += _drift(input_dict, json.loads(exec_properties[DRIFT_KEY]))
        verdict = gate.decide(findings, fail_on)
        report = gate.format_report(verdict)

        if not verdict.passed:
            # TFX deletes a failed execution's output folders, so the report
            # travels in the error (console, task logs) and in the run's log.
            logging.error("%s", report)
            raise DataValidationError(report)

        verdict_artifact = artifact_utils.get_single_instance(output_dict[VERDICT_KEY])
        _write_text(os.path.join(verdict_artifact.uri, VERDICT_FILE), json.dumps(verdict.to_dict(), indent=2))
        _write_text(os.path.join(verdict_artifact.uri, REPORT_FILE), report + "\n")
        verdict_artifact.set_int_custom_property(PASSED_PROPERTY, int(verdict.passed))

        schema_file = io_utils.get_only_uri_in_dir(artifact_utils.get_single_uri(input_dict[SCHEMA_KEY]))
        validated_uri = artifact_utils.get_single_uri(output_dict[VALIDATED_SCHEMA_KEY])
        fileio.makedirs(validated_uri)
        fileio.copy(schema_file, os.path.join(validated_uri, SCHEMA_FILE), overwrite=True)


def _trainability(input_dict, exec_properties, task: TaskSpec, check_labels: bool) -> list[gate.Finding]:
    """The trainability findings: from the statistics, then (when `check_labels`) from the train split's labels."""
    findings = []
    min_examples = exec_properties.get(MIN_EXAMPLES_KEY) or _DEFAULT_MIN_EXAMPLES
    if input_dict.get(STATISTICS_KEY):
        statistics = artifact_utils.get_single_instance(input_dict[STATISTICS_KEY])
        by_split = {
            split: artifacts.load_statistics(statistics, split)
            for split in artifact_utils.decode_split_names(statistics.split_names)
        }
        findings += trainability.statistics_findings(by_split, task, min_examples)
    if input_dict.get(EXAMPLES_KEY) and check_labels:
        import tensorflow as tf

        schema_file = io_utils.get_only_uri_in_dir(artifact_utils.get_single_uri(input_dict[SCHEMA_KEY]))
        batches = _train_batches(input_dict[EXAMPLES_KEY], schema_file, task)
        try:
            profile = trainability.profile_label(batches, task)
        except tf.errors.InvalidArgumentError as error:
            return [*findings, trainability.unreadable_label(error.message.split("\n")[0])]
        findings += trainability.label_findings(profile, task)
    return findings


def _drift(input_dict, settings: dict) -> list[gate.Finding]:
    """Drift of the newest span's train split from the baseline (and skew from serving statistics, if given)."""
    from trainer import features

    statistics = artifact_utils.get_single_instance(input_dict[STATISTICS_KEY])
    current = artifacts.load_statistics(statistics, artifacts.TRAIN_SPLIT)
    schema_file = io_utils.get_only_uri_in_dir(artifact_utils.get_single_uri(input_dict[SCHEMA_KEY]))
    schema = features.load_schema(schema_file)
    examples = artifact_utils.get_single_instance(input_dict[EXAMPLES_KEY]) if input_dict.get(EXAMPLES_KEY) else None
    spans = artifacts.examples_spans(examples) if examples else []
    newest = spans[0] if spans else 0
    baseline, name = None, ""
    model = input_dict.get(BASELINE_MODEL_KEY)
    if model and fileio.exists(artifacts.training_statistics_path(model[0].uri)):
        baseline = artifacts.read_statistics_file(artifacts.training_statistics_path(model[0].uri))
        name = "the training data of the latest blessed model"
    elif settings.get("input_base") and spans:
        previous = _previous_span(settings, newest)
        if previous is not None:
            baseline = _span_statistics(settings, previous)
            name = f"span {previous} (the previous span: no model is blessed yet)"
    serving = (
        artifacts.read_statistics_file(settings["serving_statistics"]) if settings.get("serving_statistics") else None
    )
    measures = drift.compare(current, schema, baseline, serving)
    logging.info("Drift of span %s from %s: %s", newest, name or "nothing (no baseline)", measures)
    if settings.get("log_dir") and measures:
        drift.write_scalars(settings["log_dir"], newest, measures)
    return drift.findings(measures, name)


def _previous_span(settings: dict, newest: int) -> int | None:
    older = [span for span in spans_lib.available_spans(settings["input_base"], settings["pattern"]) if span < newest]
    return older[-1] if older else None


def _span_statistics(settings: dict, span: int) -> statistics_pb2.DatasetFeatureStatistics:
    """TFDV statistics of one span's files, as StatisticsGen would compute them."""
    import tensorflow_data_validation as tfdv

    location = os.path.join(settings["input_base"], spans_lib.span_pattern(settings["pattern"], span))
    if settings.get("format") == "csv":
        return tfdv.generate_statistics_from_csv(data_location=location).datasets[0]
    return tfdv.generate_statistics_from_tfrecord(data_location=location).datasets[0]


def _train_batches(examples, schema_file: str, task: TaskSpec):
    """Parsed batches of the train split's raw examples: the label's source columns only (all for label_fn)."""
    import tensorflow as tf
    from tensorflow_transform.tf_metadata import schema_utils

    from trainer import features

    spec = schema_utils.schema_as_feature_spec(features.load_schema(schema_file)).feature_spec
    if task.label.fn is None:
        spec = {name: spec[name] for name in task.label.source_columns}
    files = records.list_files(artifacts.split_files_pattern(examples[0], artifacts.TRAIN_SPLIT))
    return records.read_records(files).batch(_LABEL_BATCH).map(lambda batch: tf.io.parse_example(batch, spec))


def _write_text(path: str, text: str) -> None:
    fileio.makedirs(os.path.dirname(path))
    with fileio.open(path, "w") as stream:
        stream.write(text)
