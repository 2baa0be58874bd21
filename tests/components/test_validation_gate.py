"""Unit tests of the validation gate: the decision, the report, and the executor on real artifacts."""

from __future__ import annotations

import json
import os

import pytest
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.types import artifact_utils, standard_artifacts

from components.validation_gate import DataValidationError, DataValidationVerdict, gate
from components.validation_gate import component_keys as keys
from components.validation_gate.executor import ValidationGateExecutor
from tests.conftest import SCHEMA_PATH

ERROR = anomalies_pb2.AnomalyInfo.ERROR
WARNING = anomalies_pb2.AnomalyInfo.WARNING
UNKNOWN = anomalies_pb2.AnomalyInfo.UNKNOWN


def _anomalies(features: dict[str, tuple[int, str, str]] | None = None, dataset: tuple | None = None):
    """Anomalies proto with {feature: (severity, short description, description)}."""
    proto = anomalies_pb2.Anomalies()
    for feature, (severity, short, long) in (features or {}).items():
        info = proto.anomaly_info[feature]
        info.severity = severity
        info.reason.add(short_description=short, description=long)
    if dataset:
        severity, short, long = dataset
        proto.dataset_anomaly_info.severity = severity
        proto.dataset_anomaly_info.reason.add(short_description=short, description=long)
    return proto


def test_no_anomalies_passes():
    verdict = gate.decide(gate.collect_findings({"train": _anomalies(), "eval": _anomalies()}), gate.Severity.ERROR)
    assert verdict.passed and verdict.findings == () and verdict.blocking == ()
    assert gate.format_report(verdict) == "Data validation passed: no anomalies."


def test_error_anomaly_fails_and_is_reported_per_split():
    findings = gate.collect_findings(
        {
            "train": _anomalies({"fare": (ERROR, "Unexpected data type", "Expected FLOAT but got STRING")}),
            "eval": _anomalies(),
        }
    )
    verdict = gate.decide(findings, gate.Severity.ERROR)
    assert not verdict.passed
    assert verdict.blocking == (
        gate.Finding("train", "fare", gate.Severity.ERROR, "Unexpected data type", "Expected FLOAT but got STRING"),
    )
    report = gate.format_report(verdict)
    assert report.startswith(
        "Data validation failed on fare (Unexpected data type): 1 finding(s) at or above severity error"
    )
    assert "train  fare     error     Unexpected data type  Expected FLOAT but got STRING" in report


def test_warning_passes_at_error_level_and_fails_at_warning_level():
    findings = gate.collect_findings({"train": _anomalies({"company": (WARNING, "Low presence", "Fewer values")})})
    lenient = gate.decide(findings, gate.Severity.ERROR)
    strict = gate.decide(findings, gate.Severity.WARNING)
    assert lenient.passed and lenient.blocking == ()
    assert "passed with 1 anomalies below severity error" in gate.format_report(lenient)
    assert not strict.passed and [f.feature for f in strict.blocking] == ["company"]


def test_unknown_severity_counts_as_error():
    findings = gate.collect_findings({"train": _anomalies({"fare": (UNKNOWN, "Odd", "Odd values")})})
    assert findings[0].severity is gate.Severity.ERROR
    assert not gate.decide(findings, gate.Severity.ERROR).passed


def test_the_first_line_names_at_most_three_findings():
    findings = gate.collect_findings(
        {
            "train": _anomalies({name: (ERROR, "Bad", "bad") for name in ("a", "b", "c", "d")}),
            "eval": _anomalies({"a": (ERROR, "Bad", "bad")}),
        }
    )
    head = gate.format_report(gate.decide(findings, gate.Severity.ERROR)).splitlines()[0]
    assert head.startswith("Data validation failed on a (Bad), b (Bad), c (Bad) and 1 more: 5 finding(s)")


def test_dataset_level_anomaly_is_a_finding():
    findings = gate.collect_findings({"eval": _anomalies(dataset=(ERROR, "Low num examples", "Too few examples"))})
    assert findings == (
        gate.Finding("eval", gate.DATASET_FEATURE, gate.Severity.ERROR, "Low num examples", "Too few examples"),
    )


def test_several_reasons_are_joined():
    proto = _anomalies({"fare": (ERROR, "Unexpected data type", "Expected FLOAT.")})
    proto.anomaly_info["fare"].reason.add(short_description="Invalid values", description='Such as "abc".')
    (finding,) = gate.collect_findings({"train": proto})
    assert finding.anomaly == "Unexpected data type; Invalid values"
    assert finding.description == 'Expected FLOAT. Such as "abc".'


def test_findings_are_sorted_by_split_then_feature():
    findings = gate.collect_findings(
        {
            "train": _anomalies({"tips": (ERROR, "a", "a"), "fare": (ERROR, "b", "b")}),
            "eval": _anomalies({"tips": (ERROR, "c", "c")}),
        }
    )
    assert [(f.split, f.feature) for f in findings] == [("eval", "tips"), ("train", "fare"), ("train", "tips")]


def test_verdict_to_dict_is_json_ready():
    verdict = gate.decide(
        gate.collect_findings({"train": _anomalies({"fare": (WARNING, "x", "y")})}), gate.Severity.ERROR
    )
    assert json.loads(json.dumps(verdict.to_dict())) == {
        "passed": True,
        "fail_on": "error",
        "findings": [{"split": "train", "feature": "fare", "severity": "warning", "anomaly": "x", "description": "y"}],
    }


def test_severity_parse():
    assert gate.Severity.parse("Warning") is gate.Severity.WARNING
    with pytest.raises(ValueError, match="unknown severity 'fatal'; expected one of: warning, error"):
        gate.Severity.parse("fatal")


def _run_executor(tmp_path, anomalies_by_split: dict, fail_on: str = "error"):
    anomalies = standard_artifacts.ExampleAnomalies()
    anomalies.uri = str(tmp_path / "anomalies")
    anomalies.split_names = artifact_utils.encode_split_names(list(anomalies_by_split))
    for split, proto in anomalies_by_split.items():
        split_dir = tmp_path / "anomalies" / f"Split-{split}"
        split_dir.mkdir(parents=True)
        (split_dir / "SchemaDiff.pb").write_bytes(proto.SerializeToString())
    schema = standard_artifacts.Schema()
    schema.uri = str(tmp_path / "schema")
    os.makedirs(schema.uri)
    (tmp_path / "schema" / "schema.pbtxt").write_text(SCHEMA_PATH.read_text())
    validated_schema = standard_artifacts.Schema()
    validated_schema.uri = str(tmp_path / "validated_schema")
    verdict = DataValidationVerdict()
    verdict.uri = str(tmp_path / "verdict")
    inputs = {keys.ANOMALIES_KEY: [anomalies], keys.SCHEMA_KEY: [schema]}
    outputs = {keys.VALIDATED_SCHEMA_KEY: [validated_schema], keys.VERDICT_KEY: [verdict]}
    error = None
    try:
        ValidationGateExecutor().Do(inputs, outputs, {keys.FAIL_ON_KEY: fail_on})
    except DataValidationError as raised:
        error = raised
    return verdict, validated_schema, error


def test_executor_passes_schema_on_when_clean(tmp_path):
    verdict, _, error = _run_executor(tmp_path, {"train": _anomalies(), "eval": _anomalies()})
    assert error is None
    assert (tmp_path / "validated_schema" / keys.SCHEMA_FILE).read_text() == SCHEMA_PATH.read_text()
    assert verdict.get_int_custom_property(keys.PASSED_PROPERTY) == 1
    assert json.loads((tmp_path / "verdict" / keys.VERDICT_FILE).read_text())["passed"] is True


def test_executor_raises_with_the_report_and_passes_nothing_on(tmp_path):
    bad = _anomalies({"payment_type": (ERROR, "Unexpected string values", "Bitcoin (<1%)")})
    _, _, error = _run_executor(tmp_path, {"train": bad, "eval": _anomalies()})
    assert error is not None
    assert str(error).startswith("Data validation failed on payment_type (Unexpected string values): 1 finding(s)")
    assert "payment_type" in str(error) and "Bitcoin" in str(error)
    assert not (tmp_path / "validated_schema" / keys.SCHEMA_FILE).exists()


def test_executor_records_findings_below_the_threshold(tmp_path):
    warn = _anomalies({"company": (WARNING, "Low presence", "Fewer values")})
    _, _, error = _run_executor(tmp_path, {"train": warn})
    assert error is None
    assert "company" in (tmp_path / "verdict" / keys.REPORT_FILE).read_text()
    assert json.loads((tmp_path / "verdict" / keys.VERDICT_FILE).read_text())["findings"][0]["severity"] == "warning"


def test_executor_honours_warning_level(tmp_path):
    warn = _anomalies({"company": (WARNING, "Low presence", "Fewer values")})
    _, _, error = _run_executor(tmp_path, {"train": warn}, fail_on="warning")
    assert error is not None and "company" in str(error)
