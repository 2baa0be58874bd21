"""Executor of the validation gate: loads the anomalies, decides, and stops the run on failure."""

from __future__ import annotations

import json
import os
from typing import Any

from absl import logging
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.utils import io_utils

from common import filesystem, records
from components import artifacts
from components.validation_gate import drift, gate, trainability
from components.validation_gate.component_keys import (
    ANOMALIES_KEY,
    BASELINE_MODEL_KEY,
    BASELINE_STATISTICS_KEY,
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
from components.validation_gate.settings import DriftThresholds
from trainer import features, label_profile
from trainer.features import TaskSpec
from trainer.label_profile import LabelProfile

__all__ = ["DataValidationError", "ValidationGateExecutor"]

_DEFAULT_MIN_EXAMPLES = 1


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
        task = TaskSpec.model_validate_json(task_json) if task_json else None
        schema_file = io_utils.get_only_uri_in_dir(artifact_utils.get_single_uri(input_dict[SCHEMA_KEY]))
        schema = features.load_schema(schema_file)
        statistics, statistics_by_split = None, {}
        if input_dict.get(STATISTICS_KEY):
            statistics = artifact_utils.get_single_instance(input_dict[STATISTICS_KEY])
            splits = artifact_utils.decode_split_names(statistics.split_names)
            statistics_by_split = {split: artifacts.load_statistics(statistics, split) for split in splits}
        label = None
        if task is not None:
            # The labels are only computed from data that keeps the schema's contract.
            contract_holds = gate.decide(findings, fail_on).passed
            trainable, label = _trainability(
                input_dict, exec_properties, task, schema, statistics_by_split, contract_holds
            )
            findings += trainable
        if exec_properties.get(DRIFT_KEY) and statistics:
            settings = json.loads(exec_properties[DRIFT_KEY])
            findings += _drift(
                input_dict, settings, task, label, schema, statistics, statistics_by_split[artifacts.TRAIN_SPLIT]
            )
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

        validated_uri = artifact_utils.get_single_uri(output_dict[VALIDATED_SCHEMA_KEY])
        fileio.makedirs(validated_uri)
        fileio.copy(schema_file, os.path.join(validated_uri, SCHEMA_FILE), overwrite=True)


def _trainability(
    input_dict,
    exec_properties,
    task: TaskSpec,
    schema: schema_pb2.Schema,
    statistics_by_split: dict[str, statistics_pb2.DatasetFeatureStatistics],
    check_labels: bool,
) -> tuple[list[gate.Finding], LabelProfile | None]:
    """The trainability findings, from the statistics then (when `check_labels`) the train split's label profile."""
    findings = []
    min_examples = exec_properties.get(MIN_EXAMPLES_KEY) or _DEFAULT_MIN_EXAMPLES
    if statistics_by_split:
        findings += trainability.statistics_findings(statistics_by_split, task, min_examples)
    if not (input_dict.get(EXAMPLES_KEY) and check_labels):
        return findings, None
    import tensorflow as tf

    files = records.list_files(artifacts.split_files_pattern(input_dict[EXAMPLES_KEY][0], artifacts.TRAIN_SPLIT))
    try:
        profile = label_profile.profile_files(files, schema, task)
    except tf.errors.InvalidArgumentError as error:
        return [*findings, trainability.unreadable_label(error.message.split("\n")[0])], None
    return findings + trainability.label_findings(profile, task), profile


def _drift(
    input_dict,
    settings: dict,
    task: TaskSpec | None,
    label: LabelProfile | None,
    schema: schema_pb2.Schema,
    statistics,
    current: statistics_pb2.DatasetFeatureStatistics,
) -> list[gate.Finding]:
    """The newest span's train split (`current`, of the `statistics` artifact) against the baseline, the label
    included; skew against serving statistics."""
    examples = artifact_utils.get_single_instance(input_dict[EXAMPLES_KEY]) if input_dict.get(EXAMPLES_KEY) else None
    newest = artifacts.examples_spans(examples)[0] if examples else 0
    baseline, baseline_label, name = _baseline(input_dict, statistics)
    thresholds = DriftThresholds.model_validate(settings.get("thresholds") or {})
    measures = []
    if baseline is not None:
        inputs = [feature.name for feature in task.features] if task else []
        measures += drift.compare(current, baseline, inputs, thresholds, thresholds.unchecked)
        if task is not None and label is not None and baseline_label is not None:
            measures += drift.label_measures(label, baseline_label, task.type, thresholds.label, thresholds.rows)
        measures += drift.schema_comparators(current, schema, previous=baseline)
    if settings.get("serving_statistics"):
        serving = artifacts.read_statistics_file(settings["serving_statistics"])
        measures += drift.schema_comparators(current, schema, serving=serving)
    logging.info("Drift of span %s from %s: %s", newest, name or "nothing (no baseline)", measures)
    if settings.get("log_dir") and measures:
        drift.write_scalars(settings["log_dir"], newest, measures)
    return drift.findings(measures, name)


def _baseline(
    input_dict, statistics
) -> tuple[statistics_pb2.DatasetFeatureStatistics | None, LabelProfile | None, str]:
    """What the span is compared with: the latest blessed model's training data, else the previous run's data."""
    model = input_dict.get(BASELINE_MODEL_KEY)
    if model and fileio.exists(artifacts.training_statistics_path(model[0].uri)):
        baseline = artifacts.read_statistics_file(artifacts.training_statistics_path(model[0].uri))
        profile_path = artifacts.training_label_profile_path(model[0].uri)
        label = LabelProfile.from_json(filesystem.read_text(profile_path)) if fileio.exists(profile_path) else None
        return baseline, label, "the training data of the latest blessed model"
    previous = input_dict.get(BASELINE_STATISTICS_KEY)
    # The resolver runs before this run's StatisticsGen; in an unchanged re-run it resolves this run's own.
    if previous and previous[0].id != statistics.id:
        span = previous[0].span
        return (
            artifacts.load_statistics(previous[0], artifacts.TRAIN_SPLIT),
            None,
            (f"the data of the previous run (span {span}; no model is blessed yet)"),
        )
    return None, None, ""


def _write_text(path: str, text: str) -> None:
    fileio.makedirs(os.path.dirname(path))
    with fileio.open(path, "w") as stream:
        stream.write(text)
