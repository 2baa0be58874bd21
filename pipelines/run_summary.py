"""What a local run did, in a few lines and as JSON: components, the model's verdict, what is served.

`collect` reads ML Metadata (the executions this run recorded, their output
artifacts) and the Evaluator's and Pusher's outputs; `RunSummary.lines()`
formats it for the console; `write` stores it as JSON beside the run's log,
for scripts, the scheduled runs and `pipelines.status`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Sequence
from typing import Any

__all__ = [
    "SUFFIX",
    "ComponentOutcome",
    "MetricVerdict",
    "RunSummary",
    "collect",
    "latest_execution_id",
    "names",
    "path_for",
    "read",
    "read_all",
    "write",
]

# A summary is `<log_dir>/<name>.summary.json`; names sort by time (run-<stamp>, rollback-<stamp>).
SUFFIX = ".summary.json"

# Outcomes of a run, most to least successful.
PUSHED, IDENTICAL, NOT_BLESSED, STOPPED, FAILED = "pushed", "identical", "not_blessed", "stopped", "failed"


@dataclasses.dataclass(frozen=True)
class ComponentOutcome:
    """One component in this run."""

    component_id: str
    status: str  # ran, cached, failed
    seconds: float | None = None


@dataclasses.dataclass(frozen=True)
class MetricVerdict:
    """The deciding metric against its bound and the latest blessed model."""

    name: str
    value: float
    threshold: float
    higher_is_better: bool
    baseline_value: float | None = None
    blessed: bool = False
    failures: tuple[str, ...] = ()

    def describe(self) -> str:
        bound = ">=" if self.higher_is_better else "<="
        text = f"{self.name} {self.value:.4f} (threshold {bound} {self.threshold:g}"
        if self.baseline_value is not None:
            text += f"; latest blessed model {self.baseline_value:.4f}, change {self.value - self.baseline_value:+.4f}"
        return text + ")"


@dataclasses.dataclass(frozen=True)
class RunSummary:
    """The outcome of one run; `outcome` is pushed, identical, not_blessed, stopped or failed."""

    pipeline: str
    started: str
    seconds: float
    outcome: str
    components: tuple[ComponentOutcome, ...] = ()
    spans: tuple[int, ...] = ()
    metric: MetricVerdict | None = None
    pushed_version: str | None = None
    serving_version: str | None = None
    serving_root: str | None = None
    stopped_by: str | None = None
    reason: str | None = None

    def lines(self) -> list[str]:
        """The console summary."""
        ran = [c.component_id for c in self.components if c.status == "ran"]
        cached = [c.component_id for c in self.components if c.status == "cached"]
        lines = [f"Run summary ({self.pipeline}, {self.seconds:.1f}s)"]
        if self.spans:
            lines.append(f"  data: span(s) {', '.join(map(str, self.spans))}")
        lines.append(f"  ran: {', '.join(ran) or 'nothing'}")
        if cached:
            lines.append(f"  from cache: {', '.join(cached)}")
        if self.metric:
            lines.append(f"  model: {self.metric.describe()}")
        lines.append("  " + self.verdict())
        return lines

    def verdict(self) -> str:
        """One line: what happened to serving."""
        serving = (
            f"serving stays at version {self.serving_version}" if self.serving_version else "nothing is served yet"
        )
        if self.outcome == PUSHED:
            return f"pushed version {self.pushed_version} to {self.serving_root}"
        if self.outcome == IDENTICAL:
            return f"the model is identical to the served version {self.serving_version}: nothing pushed"
        if self.outcome == NOT_BLESSED:
            return f"not blessed: {self.reason}; {serving}"
        return f"{'stopped' if self.outcome == STOPPED else 'failed'} at {self.stopped_by}: {self.reason}; {serving}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def path_for(log_dir: str, name: str) -> str:
    """Where the summary called `name` lives."""
    return os.path.join(log_dir, f"{name}{SUFFIX}")


def names(log_dir: str) -> list[str]:
    """The names of the summaries under log_dir, oldest first."""
    if not os.path.isdir(log_dir):
        return []
    return sorted(name.removesuffix(SUFFIX) for name in os.listdir(log_dir) if name.endswith(SUFFIX))


def read(log_dir: str, name: str) -> dict[str, Any]:
    """The summary called `name`, as written (a dict)."""
    with open(path_for(log_dir, name), encoding="utf-8") as stream:
        return json.load(stream)


def read_all(log_dir: str) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """Every summary under log_dir, oldest first, and for each one that cannot be read its path and why.

    A summary cut short or edited by hand is named and left out, so one bad file stops neither
    `status` nor the retraining loop.
    """
    found, unreadable = [], []
    for name in names(log_dir):
        try:
            summary = read(log_dir, name)
            if not isinstance(summary, dict):
                raise ValueError(f"a JSON {type(summary).__name__}, not an object")
        except (OSError, UnicodeDecodeError, ValueError) as error:
            unreadable.append(f"{path_for(log_dir, name)}: {error}")
            continue
        found.append((name, summary))
    return found, unreadable


def write(summary: RunSummary, path: str) -> None:
    """Writes the summary as JSON, atomically (a reader never sees half a file)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    staging = f"{path}.tmp-{os.getpid()}"
    with open(staging, "w", encoding="utf-8") as stream:
        json.dump(summary.to_dict(), stream, indent=2)
    os.replace(staging, path)


def _store(metadata_path: str):
    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = metadata_path
    connection.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return metadata_store.MetadataStore(connection)


def latest_execution_id(metadata_path: str) -> int:
    """The highest execution id in the store (0 if none): executions above it belong to a later run."""
    if not os.path.exists(metadata_path):
        return 0
    executions = _store(metadata_path).get_executions()
    return max((execution.id for execution in executions), default=0)


def _run_outputs(metadata_path: str, pipeline: str, after_id: int) -> dict[str, dict[str, list]]:
    """For each component that recorded an execution after `after_id`: its output artifacts by key."""
    from ml_metadata.proto import metadata_store_pb2

    store = _store(metadata_path)
    outputs: dict[str, dict[str, list]] = {}
    prefix = f"{pipeline}."
    for context in store.get_contexts_by_type("node"):
        if not context.name.startswith(prefix):
            continue
        executions = [e for e in store.get_executions_by_context(context.id) if e.id > after_id]
        if not executions:
            continue
        latest = max(executions, key=lambda execution: execution.id)
        events = store.get_events_by_execution_ids([latest.id])
        output_events = [
            event
            for event in events
            if event.type in (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
        ]
        artifacts = {
            artifact.id: artifact for artifact in store.get_artifacts_by_id([e.artifact_id for e in output_events])
        }
        by_key: dict[str, list] = {}
        for event in output_events:
            key = event.path.steps[0].key if event.path.steps else ""
            if event.artifact_id in artifacts:
                by_key.setdefault(key, []).append(artifacts[event.artifact_id])
        outputs[context.name[len(prefix) :]] = by_key
    return outputs


def _int_property(artifact, name: str) -> int | None:
    if name in artifact.custom_properties:
        value = artifact.custom_properties[name]
        return value.int_value if value.HasField("int_value") else int(value.string_value or 0)
    if name in artifact.properties:
        return artifact.properties[name].int_value
    return None


def _string_property(artifact, name: str) -> str | None:
    for properties in (artifact.custom_properties, artifact.properties):
        if name in properties:
            value = properties[name]
            return value.string_value if value.HasField("string_value") else str(value.int_value)
    return None


def _metric_verdict(evaluation_uri: str, blessed: bool, name: str, threshold: float, higher: bool) -> MetricVerdict:
    import tensorflow_model_analysis as tfma

    # TFMA's readers use a deprecated TensorFlow reader, whose warning would land on the console.
    tensorflow_logger = logging.getLogger("tensorflow")
    level = tensorflow_logger.level
    tensorflow_logger.setLevel(logging.ERROR)
    try:
        result = tfma.load_eval_result(evaluation_uri)
        validation = tfma.load_validation_result(evaluation_uri)
    finally:
        tensorflow_logger.setLevel(level)
    overall = dict(result.slicing_metrics).get((), {}).get("", {}).get("", {})
    value = overall.get(name, {}).get("doubleValue")
    diff = overall.get(f"{name}_diff", {}).get("doubleValue")
    failures = []
    for per_slice in validation.metric_validations_per_slice:
        for failure in per_slice.failures:
            kind = (
                "change against the latest blessed model"
                if failure.metric_threshold.HasField("change_threshold")
                else "bound"
            )
            failures.append(f"{failure.metric_key.name} {kind}")
    return MetricVerdict(
        name=name,
        value=float("nan") if value is None else float(value),
        threshold=threshold,
        higher_is_better=higher,
        baseline_value=None if diff is None or value is None else float(value - diff),
        blessed=blessed,
        failures=tuple(failures),
    )


def collect(
    config,
    timings: Sequence,
    started: str,
    seconds: float,
    after_id: int,
    error: BaseException | None = None,
) -> RunSummary:
    """Builds the summary of the run that recorded executions after `after_id`.

    Args:
      config: The run's PipelineConfig.
      timings: progress.ComponentTiming of each component that started.
      started: When the run started (ISO 8601).
      seconds: Its wall time.
      after_id: `latest_execution_id` before the run.
      error: What the run raised, if it failed.
    """
    from components import artifacts
    from components.pusher import versions
    from components.pusher.executor import PUSHED_NEW_VERSION_PROPERTY
    from pipelines import evaluation, pipeline

    components = tuple(
        ComponentOutcome(
            t.component_id,
            "failed"
            if t.seconds is None or (error is not None and t is timings[-1] and not t.cached)
            else ("cached" if t.cached else "ran"),
            t.seconds,
        )
        for t in timings
    )
    if error is not None and components and components[-1].status == "failed":
        pass
    serving_root = config.pusher.serving_root
    newest = versions.newest_version(serving_root) if "://" in serving_root or os.path.exists(serving_root) else None
    serving_version = os.path.basename(newest) if newest else None
    outputs = (
        _run_outputs(config.pipeline.metadata_path, config.pipeline.name, after_id)
        if os.path.exists(config.pipeline.metadata_path)
        else {}
    )
    spans: tuple[int, ...] = ()
    for artifact in outputs.get(pipeline.EXAMPLE_GEN_ID, {}).get("examples", []):
        window = _string_property(artifact, artifacts.SPANS_PROPERTY)
        spans = tuple(json.loads(window)) if window else ((_int_property(artifact, "span") or 0),)
    common = {
        "pipeline": config.pipeline.name,
        "started": started,
        "seconds": round(seconds, 1),
        "components": components,
        "spans": spans,
        "serving_root": serving_root,
        "serving_version": serving_version,
    }
    if error is not None:
        failed = next((c.component_id for c in reversed(components) if c.status == "failed"), "start-up")
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        stopped = type(error).__name__ in ("DataValidationError", "DataTypeError", "InputFileError")
        return RunSummary(outcome=STOPPED if stopped else FAILED, stopped_by=failed, reason=first_line, **common)
    goal = evaluation.deciding_metric(config.task.type)
    metric = None
    evaluator = outputs.get(pipeline.EVALUATOR_ID, {})
    if evaluator.get("evaluation"):
        blessing = (evaluator.get("blessing") or [None])[0]
        blessed = bool(blessing is not None and _int_property(blessing, "blessed"))
        metric = _metric_verdict(
            evaluator["evaluation"][0].uri, blessed, goal.name, config.evaluator.threshold, goal.higher_is_better
        )
    pushed = (outputs.get(pipeline.PUSHER_ID, {}).get("pushed_model") or [None])[0]
    if pushed is not None and _int_property(pushed, "pushed"):
        version = _string_property(pushed, "pushed_version")
        outcome = PUSHED if _int_property(pushed, PUSHED_NEW_VERSION_PROPERTY) != 0 else IDENTICAL
        return RunSummary(outcome=outcome, metric=metric, pushed_version=version, **common)
    reason = _not_blessed_reason(metric)
    return RunSummary(outcome=NOT_BLESSED, metric=metric, reason=reason, **common)


def _not_blessed_reason(metric: MetricVerdict | None) -> str:
    if metric is None:
        return "no evaluation was recorded"
    parts = []
    bound = "below" if metric.higher_is_better else "above"
    if "bound" in " ".join(metric.failures):
        parts.append(f"{metric.name} {metric.value:.4f} {bound} the threshold {metric.threshold:g}")
    if any("change" in failure for failure in metric.failures) and metric.baseline_value is not None:
        parts.append(
            f"{metric.name} {metric.value:.4f} against {metric.baseline_value:.4f} for the latest blessed model "
            "(more than evaluator.max_relative_drop worse)"
        )
    return "; ".join(parts) or f"{metric.name} {metric.value:.4f}: the Evaluator did not bless it"
