"""Typed pipeline configuration: one YAML file per target plus command-line overrides.

`load_config` is the only way configuration enters the code: it reads the YAML
file, applies `--set key=value` overrides, validates everything against the
frozen models below and reports any problem with the file and the key.
"""

from __future__ import annotations

import glob
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pydantic
import yaml

from common import filesystem
from common.spans import SPAN_TOKEN as _SPAN_TOKEN
from components.validation_gate.settings import DriftThresholds
from launcher.settings import LauncherSettings
from trainer import features
from trainer.settings import TaskSettings, TrainingSettings, TuningSettings

__all__ = [
    "BeamConfig",
    "ConfigError",
    "EvaluatorConfig",
    "InputConfig",
    "KubeflowConfig",
    "PerformanceConfig",
    "PipelineConfig",
    "PipelineSection",
    "PusherConfig",
    "TaskSettings",
    "ValidationConfig",
    "load_config",
    "load_drift_thresholds",
    "parse_override",
    "read_drift_thresholds",
]

_PIPELINE_NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"


class ConfigError(ValueError):
    """A configuration file or override is invalid; the message names the file and key."""


class _Section(pydantic.BaseModel):
    # strict: a number written as a string in YAML is an error, not silently coerced.
    # Not a number or infinite is never a setting: a YAML .nan or .inf is refused, naming the key.
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class PipelineSection(_Section):
    """Identity and storage of the pipeline run.

    Attributes:
      name: Pipeline name, also the MLMD context; lowercase letters, digits, dashes.
      root: Directory (or gs:// / s3:// URI) under which every artifact is written.
      metadata_path: SQLite file for ML Metadata in local runs.
      log_dir: Folder for the full logs of local runs (the console shows progress).
      enable_cache: Reuse a component's earlier outputs when its inputs are unchanged.
    """

    name: str = pydantic.Field(pattern=_PIPELINE_NAME_PATTERN)
    root: str
    metadata_path: str
    log_dir: str
    enable_cache: bool = True


class InputConfig(_Section):
    """Where the examples come from.

    Attributes:
      format: How the files are read: gzipped TFRecords of tf.Example
        (ImportExampleGen) or CSV with a header (CsvExampleGen).
      path: The folder (or gs:// / s3:// URI) holding the data.
      pattern: Glob of the data files under `path`. With `{SPAN}` (e.g.
        `span-{SPAN}/*`) the number marks a span and the latest span is read;
        without it (e.g. `*.csv`) the matching files are one data set.
      train_buckets: Hash buckets for the train split.
      eval_buckets: Hash buckets for the eval split.
      window_spans: Train on the latest this many spans; evaluate on the newest.
      analyzer_cache: With a window, reuse Transform's analysis of spans
        analysed in earlier runs (kept under <pipeline root>/analyzer_cache).
        Off by default: on the sample it makes Transform slower
        (docs/continuous-training.md).
    """

    format: Literal["tfrecord", "csv"] = "tfrecord"
    path: str
    pattern: str = "span-{SPAN}/*"
    train_buckets: int = pydantic.Field(default=2, ge=1)
    eval_buckets: int = pydantic.Field(default=1, ge=1)
    window_spans: int = pydantic.Field(default=1, ge=1)
    analyzer_cache: bool = False

    @pydantic.model_validator(mode="after")
    def _window_needs_spans(self) -> InputConfig:
        if self.window_spans > 1 and _SPAN_TOKEN not in self.pattern:
            raise ValueError(
                f"window_spans {self.window_spans} needs spans: a pattern with {_SPAN_TOKEN}, got {self.pattern!r}"
            )
        return self

    @pydantic.field_validator("pattern")
    @classmethod
    def _at_most_one_span_token(cls, value: str) -> str:
        if value.count(_SPAN_TOKEN) > 1:
            raise ValueError(f"may contain {_SPAN_TOKEN} once at most, got {value!r}")
        if not value or value.startswith("/"):
            raise ValueError(f"must be a glob relative to input.path, e.g. 'span-{{SPAN}}/*' or '*.csv'; got {value!r}")
        return value

    @property
    def has_spans(self) -> bool:
        """Whether the data comes in numbered spans."""
        return _SPAN_TOKEN in self.pattern

    def span_dir(self, span: int) -> str:
        """Folder of one span, following `pattern`'s directory part.

        Raises:
          ConfigError: If the pattern has no directory part holding `{SPAN}`.
        """
        span_folder = os.path.dirname(self.pattern)
        if _SPAN_TOKEN not in span_folder:
            raise ConfigError(
                f"input.pattern {self.pattern!r} has no folder with {_SPAN_TOKEN}; "
                "the sample-data step writes one folder per span, e.g. 'span-{SPAN}/*'"
            )
        return os.path.join(self.path, span_folder.replace(_SPAN_TOKEN, str(span)))


class ValidationConfig(_Section):
    """Data validation against the curated schema.

    Attributes:
      schema_path: The curated schema.pbtxt imported by ImportSchemaGen.
      fail_on: Lowest anomaly severity that stops the run at the validation gate.
      min_examples: Fewest examples a split may have; a smaller span stops at the gate.
      serving_statistics_path: Statistics of serving requests (a TFDV
        FeatureStats.pb); the schema's skew comparators check the training
        data against them.
      drift_thresholds: The YAML file of the gate's drift thresholds
        (components/validation_gate/settings.py), measured on the data by
        `init_dataset drift`; none: every model input gets the defaults.
    """

    schema_path: str
    fail_on: Literal["error", "warning"]
    min_examples: int = pydantic.Field(default=100, ge=1)
    serving_statistics_path: str | None = None
    drift_thresholds: str | None = None


class BeamConfig(_Section):
    """Apache Beam pipeline arguments, passed unchanged to every Beam component.

    Attributes:
      args: Beam command-line flags; a Flink, Spark or Dataflow runner is just
        other flags here.
    """

    # Not strict: YAML gives a list, and the frozen model keeps a tuple.
    args: tuple[str, ...] = pydantic.Field(strict=False)


class EvaluatorConfig(_Section):
    """When the Evaluator blesses a model, on the task's deciding metric.

    The metric follows `task.type`: AUC (binary), accuracy (multiclass), RMSE
    (regression); see pipelines/evaluation.py.

    Attributes:
      threshold: The metric's floor (AUC, accuracy) or ceiling (RMSE) on the
        eval split. No default: it depends on the data; a simple baseline's
        score is a good start (`init_dataset config` writes it).
      max_relative_drop: Largest worsening allowed against the latest blessed
        model, as a fraction of its value (0.01: 1%).
    """

    threshold: float
    max_relative_drop: float = pydantic.Field(default=0.01, ge=0.0, le=1.0)


class PusherConfig(_Section):
    """Where blessed models go.

    Attributes:
      serving_root: Folder (or gs:// URI) where each pushed model lands in a
        numbered version folder, the layout TensorFlow Serving watches.
    """

    serving_root: str

    @pydantic.field_validator("serving_root")
    @classmethod
    def _publishable(cls, value: str) -> str:
        # Other object stores have no conditional writes here: a push could not be made safe (object_store.py).
        if "://" in value and not value.startswith("gs://"):
            raise ValueError(f"must be a folder or a gs:// URI (pushes there are leased and verified); got {value!r}")
        return value


class KubeflowConfig(_Section):
    """Compiling for and running on Kubeflow Pipelines (KFP 2.x).

    Attributes:
      image: The pipeline image every task runs: the image skaffold builds
        (`tfx-pipeline`), with your registry and tag.
      package_path: Where `compile` writes the pipeline spec (YAML); default
        build/<pipeline name>.yaml.
      endpoint: The KFP API endpoint, e.g. http://localhost:8080 through a port-forward.
      namespace: Kubeflow profile namespace (multi-user installs); empty for standalone KFP.
      experiment: Experiment that runs and recurring runs go into; default the pipeline name.
      schedule: Recurring run schedule: a 6-field cron expression (seconds first).
    """

    image: str
    package_path: str | None = None
    endpoint: str | None = None
    namespace: str | None = None
    experiment: str | None = None
    schedule: str = "0 0 3 * * *"

    @pydantic.field_validator("schedule")
    @classmethod
    def _six_fields(cls, value: str) -> str:
        if len(value.split()) != 6:
            raise ValueError(f"KFP cron needs 6 fields (seconds first), e.g. '0 0 3 * * *'; got {value!r}")
        return value


class PerformanceConfig(_Section):
    """Which executors run TFX's stock components.

    Attributes:
      fast_executors: Run our executor swaps on TFX's ImportExampleGen,
        StatisticsGen, Transform and Evaluator (faster, the same artifacts:
        docs/benchmarks.md); false runs TFX's own executors there.
    """

    fast_executors: bool = True


class PipelineConfig(_Section):
    """The whole configuration of one pipeline target."""

    @pydantic.model_validator(mode="after")
    def _kubeflow_defaults_follow_the_pipeline(self) -> PipelineConfig:
        if self.kubeflow is not None:
            defaults = {
                "package_path": self.kubeflow.package_path or f"build/{self.pipeline.name}.yaml",
                "experiment": self.kubeflow.experiment or self.pipeline.name,
            }
            object.__setattr__(self, "kubeflow", self.kubeflow.model_copy(update=defaults))
        return self

    pipeline: PipelineSection
    input: InputConfig
    task: TaskSettings
    validation: ValidationConfig
    beam: BeamConfig
    tuner: TuningSettings
    trainer: TrainingSettings
    evaluator: EvaluatorConfig
    pusher: PusherConfig
    launcher: LauncherSettings = LauncherSettings()
    performance: PerformanceConfig = PerformanceConfig()
    kubeflow: KubeflowConfig | None = None


def parse_override(text: str) -> tuple[tuple[str, ...], Any]:
    """Parses one `dotted.key=value` override; the value is read as YAML.

    A value that is not valid YAML (such as the glob `*.csv`, which YAML would
    read as an alias) is taken as the string it is.

    Returns:
      The key path and the typed value (`3` is an int, `[a, b]` a list).

    Raises:
      ConfigError: If the text has no `=` or an empty key part.
    """
    key, sep, raw_value = text.partition("=")
    keys = tuple(key.strip().split("."))
    if not sep or not all(keys):
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE with a dotted key, e.g. input.format=csv")
    try:
        value = yaml.safe_load(raw_value)
    except yaml.YAMLError:
        value = raw_value
    return keys, value


def load_config(
    path: str | os.PathLike[str],
    overrides: Sequence[str] = (),
    check_local_paths: bool = True,
) -> PipelineConfig:
    """Loads and validates a pipeline config file.

    Args:
      path: The YAML file.
      overrides: `dotted.key=value` strings applied on top of the file.
      check_local_paths: Require the input folder and schema to exist on this
        machine, and check the task section against the schema. Off when
        compiling for a cluster, where they live elsewhere.

    Returns:
      The validated, frozen config.

    Raises:
      ConfigError: On an unreadable file, an unknown key, a wrong type, a bad
        override, a missing local path or a task that does not fit the
        schema; the message names file and key.
    """
    path = os.fspath(path)
    raw = _read_yaml_mapping(path)
    override_keys = {}
    for text in overrides:
        keys, value = parse_override(text)
        _set_nested(raw, keys, value, path, text)
        override_keys[keys] = text
    try:
        config = PipelineConfig.model_validate(raw)
    except pydantic.ValidationError as error:
        raise ConfigError(_describe_validation_error(error, path, override_keys)) from None
    _check_threshold(config, path)
    if check_local_paths:
        _check_local_paths(config, path)
    return config


def load_drift_thresholds(config: PipelineConfig, config_path: str = "the config") -> DriftThresholds:
    """The thresholds file `validation.drift_thresholds` names, validated; the defaults without one.

    Raises:
      ConfigError: If the file cannot be read or holds something else, naming the file and the key.
    """
    path = config.validation.drift_thresholds
    if path is None:
        return DriftThresholds()
    return read_drift_thresholds(path, f"validation.drift_thresholds of {config_path}")


def read_drift_thresholds(path: str, named_by: str) -> DriftThresholds:
    """A drift thresholds file, validated; errors name the file and `named_by` (who points at it).

    Raises:
      ConfigError: If the file cannot be read or holds something else.
    """
    raw = _read_yaml_mapping(path)
    try:
        return DriftThresholds.model_validate(raw)
    except pydantic.ValidationError as error:
        described = _describe_validation_error(error, path, {}).replace(
            f"{path}: invalid configuration", f"{path} ({named_by}): invalid thresholds"
        )
        raise ConfigError(described) from None


def _check_threshold(config: PipelineConfig, path: str) -> None:
    """AUC and accuracy live in [0, 1]; RMSE is positive."""
    metric = {"binary": "AUC", "multiclass": "accuracy", "regression": "RMSE"}[config.task.type]
    value = config.evaluator.threshold
    if config.task.type == "regression" and value <= 0:
        raise ConfigError(f"{path}: evaluator.threshold: an RMSE ceiling must be above 0, got {value}")
    if config.task.type != "regression" and not 0.0 <= value <= 1.0:
        raise ConfigError(f"{path}: evaluator.threshold: an {metric} floor lies in [0, 1], got {value}")


def _read_yaml_mapping(path: str) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(filesystem.read_text(path, "config file"))
    except filesystem.UnreadableFileError as error:
        raise ConfigError(str(error)) from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level, got {type(raw).__name__}")
    return raw


def _set_nested(raw: dict[str, Any], keys: tuple[str, ...], value: Any, path: str, text: str) -> None:
    node = raw
    for depth, key in enumerate(keys[:-1]):
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            dotted = ".".join(keys[: depth + 1])
            raise ConfigError(f"{path}: --set {text!r}: {dotted} is a value, not a section")
        node = child
    node[keys[-1]] = value


def _describe_validation_error(
    error: pydantic.ValidationError, path: str, override_keys: Mapping[tuple[str, ...], str]
) -> str:
    lines = [f"{path}: invalid configuration"]
    for item in error.errors():
        location = tuple(str(part) for part in item["loc"])
        dotted = ".".join(location)
        origin = next(
            (f" (from --set {text!r})" for keys, text in override_keys.items() if location[: len(keys)] == keys),
            "",
        )
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        elif item["type"] == "missing":
            message = "required key is missing"
        else:
            message = f"{item['msg']} (got {item.get('input')!r})"
        lines.append(f"  {dotted}: {message}{origin}")
    return "\n".join(lines)


def _check_local_paths(config: PipelineConfig, path: str) -> None:
    checks = {
        "input.path": (config.input.path, "for the sample data, `make data` creates it"),
        "validation.schema_path": (config.validation.schema_path, "point it at a schema.pbtxt"),
    }
    for dotted, (target, hint) in checks.items():
        if "://" not in target and not os.path.exists(target):
            raise ConfigError(f"{path}: {dotted}: {target!r} does not exist ({hint})")
    schema_path = config.validation.schema_path
    if "://" not in schema_path:
        try:
            task = features.resolve_task(features.load_schema(schema_path), config.task, schema_path)
        except features.TaskError as error:
            raise ConfigError(f"{path}: {error}") from None
        _check_drift(config, path, task)
    folder = config.input.path
    if "://" not in folder:
        pattern = os.path.join(folder, config.input.pattern.replace(_SPAN_TOKEN, "*"))
        if not any(os.path.isfile(match) for match in glob.glob(pattern)):
            example = (
                f"{config.input.span_dir(1)}/<files>" if config.input.has_spans else os.path.join(folder, "<files>")
            )
            raise ConfigError(
                f"{path}: input.path: no input files in {folder!r} match input.pattern "
                f"{config.input.pattern!r}; expected e.g. {example}"
            )


def _check_drift(config: PipelineConfig, path: str, task: features.TaskSpec) -> None:
    """The thresholds file reads, and every feature it names (thresholds, or unchecked) is a model input."""
    thresholds_path = config.validation.drift_thresholds
    if thresholds_path is None or "://" in thresholds_path:
        return
    if not os.path.isfile(thresholds_path):
        raise ConfigError(
            f"{path}: validation.drift_thresholds: {thresholds_path!r} is not a file "
            "(write one with `python -m pipelines.init_dataset drift`, or remove the key for the defaults)"
        )
    inputs = {feature.name for feature in task.features}
    thresholds = load_drift_thresholds(config, path)
    named = {
        f"{thresholds_path}: features": set(thresholds.features),
        f"{thresholds_path}: unchecked": set(thresholds.unchecked),
    }
    for where, names in named.items():
        unknown = sorted(names - inputs)
        if unknown:
            raise ConfigError(f"{path}: {where}: {unknown} are not model inputs; the inputs are {sorted(inputs)}")


def _print_value(argv: Sequence[str]) -> int:
    """`python -m pipelines.config FILE KEY`: prints one config value, for scripts and make."""
    if len(argv) != 2:
        print("usage: python -m pipelines.config CONFIG_FILE dotted.key", file=sys.stderr)
        return 2
    try:
        value: Any = load_config(argv[0], check_local_paths=False)
        for key in argv[1].split("."):
            value = getattr(value, key)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except AttributeError:
        print(f"error: {argv[0]}: no key {argv[1]!r}", file=sys.stderr)
        return 2
    print(value)
    return 0


if __name__ == "__main__":
    sys.exit(_print_value(sys.argv[1:]))
