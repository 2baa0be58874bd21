"""Executor of the validation gate: loads the anomalies, decides, and stops the run on failure."""

from __future__ import annotations

import json
import os
from typing import Any

from absl import logging
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.utils import io_utils

from components.validation_gate import gate
from components.validation_gate.component_keys import (
    ANOMALIES_KEY,
    FAIL_ON_KEY,
    PASSED_PROPERTY,
    REPORT_FILE,
    SCHEMA_FILE,
    SCHEMA_KEY,
    VALIDATED_SCHEMA_KEY,
    VERDICT_FILE,
    VERDICT_KEY,
)

__all__ = ["DataValidationError", "Executor"]

# Written by ExampleValidator in each Split-<name> folder of its anomalies artifact.
_ANOMALIES_FILE = "SchemaDiff.pb"


class DataValidationError(RuntimeError):
    """The data has anomalies at or above the configured severity; the message is the report."""


class Executor(base_executor.BaseExecutor):
    """Raises with the report when the data fails; otherwise writes the verdict and passes the schema on."""

    def Do(self, input_dict: dict[str, list[Any]], output_dict: dict[str, list[Any]], exec_properties: dict) -> None:
        anomalies = artifact_utils.get_single_instance(input_dict[ANOMALIES_KEY])
        splits = artifact_utils.decode_split_names(anomalies.split_names)
        by_split = {
            split: _read_anomalies(os.path.join(artifact_utils.get_split_uri([anomalies], split), _ANOMALIES_FILE))
            for split in splits
        }
        verdict = gate.decide(gate.collect_findings(by_split), gate.Severity.parse(exec_properties[FAIL_ON_KEY]))
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


def _read_anomalies(path: str) -> anomalies_pb2.Anomalies:
    with fileio.open(path, "rb") as stream:
        return anomalies_pb2.Anomalies.FromString(stream.read())


def _write_text(path: str, text: str) -> None:
    fileio.makedirs(os.path.dirname(path))
    with fileio.open(path, "w") as stream:
        stream.write(text)
