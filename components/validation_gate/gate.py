"""The validation gate's decision: which anomalies stop a run, and the report a user reads.

Pure functions over TFDV `Anomalies` protos, one per split; the executor only
loads the protos and acts on the verdict.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping, Sequence

from tensorflow_metadata.proto.v0 import anomalies_pb2

__all__ = [
    "DATASET_FEATURE",
    "Finding",
    "Severity",
    "Verdict",
    "collect_findings",
    "decide",
    "format_report",
]

# Shown in the feature column for anomalies about the whole split (e.g. too few examples).
DATASET_FEATURE = "(dataset)"


class Severity(enum.IntEnum):
    """Anomaly severities, ordered; TFDV's UNKNOWN counts as ERROR, to be safe."""

    WARNING = 1
    ERROR = 2

    @classmethod
    def parse(cls, name: str) -> Severity:
        """Reads a config value such as 'error' or 'warning'.

        Raises:
          ValueError: If the name is not a severity.
        """
        try:
            return cls[name.upper()]
        except KeyError:
            expected = ", ".join(member.name.lower() for member in cls)
            raise ValueError(f"unknown severity {name!r}; expected one of: {expected}") from None

    @classmethod
    def from_proto(cls, value: int) -> Severity:
        """Maps AnomalyInfo.Severity to ours."""
        return cls.WARNING if value == anomalies_pb2.AnomalyInfo.WARNING else cls.ERROR


@dataclasses.dataclass(frozen=True)
class Finding:
    """One anomaly on one feature (or the whole dataset) of one split."""

    split: str
    feature: str
    severity: Severity
    anomaly: str
    description: str


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What the gate decided, with everything it saw."""

    passed: bool
    fail_on: Severity
    findings: tuple[Finding, ...]

    @property
    def blocking(self) -> tuple[Finding, ...]:
        """The findings at or above the configured severity."""
        return tuple(finding for finding in self.findings if finding.severity >= self.fail_on)

    def to_dict(self) -> dict:
        """A JSON-ready form, written next to the report."""
        return {
            "passed": self.passed,
            "fail_on": self.fail_on.name.lower(),
            "findings": [
                {**dataclasses.asdict(finding), "severity": finding.severity.name.lower()} for finding in self.findings
            ],
        }


def collect_findings(anomalies_by_split: Mapping[str, anomalies_pb2.Anomalies]) -> tuple[Finding, ...]:
    """Flattens per-split Anomalies protos into findings, sorted by split then feature."""
    findings = []
    for split, anomalies in anomalies_by_split.items():
        for feature, info in anomalies.anomaly_info.items():
            findings.append(_finding(split, feature, info))
        if anomalies.HasField("dataset_anomaly_info"):
            findings.append(_finding(split, DATASET_FEATURE, anomalies.dataset_anomaly_info))
    return tuple(sorted(findings, key=lambda finding: (finding.split, finding.feature)))


def _finding(split: str, feature: str, info: anomalies_pb2.AnomalyInfo) -> Finding:
    reasons = [reason for reason in info.reason if reason.short_description or reason.description]
    anomaly = "; ".join(reason.short_description for reason in reasons) or info.short_description
    description = " ".join(reason.description for reason in reasons) or info.description
    return Finding(split, feature, Severity.from_proto(info.severity), anomaly, description)


def decide(findings: Sequence[Finding], fail_on: Severity) -> Verdict:
    """Passes only when no finding reaches `fail_on`."""
    passed = all(finding.severity < fail_on for finding in findings)
    return Verdict(passed=passed, fail_on=fail_on, findings=tuple(findings))


def _name_blocking(findings: Sequence[Finding], most: int = 3) -> str:
    """`feature (anomaly)` for the first few distinct blocking findings, so the first line says what is wrong."""
    # Findings about the whole split or the label first: they are usually the cause of the rest.
    ordered = sorted(findings, key=lambda finding: not finding.feature.startswith("("))
    named = list(dict.fromkeys(f"{finding.feature} ({finding.anomaly})" for finding in ordered))
    more = f" and {len(named) - most} more" if len(named) > most else ""
    return ", ".join(named[:most]) + more


def format_report(verdict: Verdict) -> str:
    """A plain-text table of the findings, headed by the verdict."""
    if not verdict.findings:
        return "Data validation passed: no anomalies."
    if verdict.passed:
        head = (
            f"Data validation passed with {len(verdict.findings)} anomalies below "
            f"severity {verdict.fail_on.name.lower()}:"
        )
    else:
        head = (
            f"Data validation failed on {_name_blocking(verdict.blocking)}: {len(verdict.blocking)} finding(s) at or "
            f"above severity {verdict.fail_on.name.lower()}. Fix the data, or the schema if the change is expected:"
        )
    rows = [("split", "feature", "severity", "anomaly", "description")]
    rows += [(f.split, f.feature, f.severity.name.lower(), f.anomaly, f.description) for f in verdict.findings]
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    lines = [head]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)]
        lines.append("  " + "  ".join([*cells, row[4]]).rstrip())
    return "\n".join(lines)
