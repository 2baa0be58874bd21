"""Starts a pipeline on your own data: a commented schema to curate, then a config.

  python -m pipelines.init_dataset schema --input DIR --format csv --pattern '*.csv' \\
      --task multiclass --label species --out schemas/mine/schema.pbtxt
  python -m pipelines.init_dataset config --input DIR --format csv --pattern '*.csv' \\
      --task multiclass --label species --schema schemas/mine/schema.pbtxt --name mine --out configs/mine.yaml
  python -m pipelines.init_dataset drift --config configs/mine.yaml

`schema` computes statistics with TFDV, infers a schema, keeps the label (and
any `--label-source`) out of the serving environment, and writes it with a
comment above each feature saying how the trainer will read it, so curating
it is a matter of reading the comments. `config` writes a config for the
schema whose evaluator threshold is what a trivial model scores on the data
(AUC 0.5, the majority class's share, or the label's standard deviation as
RMSE): a model that does not beat it is never blessed. Raise it once you know
what a good model scores. `drift` measures each model input's and the label's
drift between the config's spans and the sampling noise at a span's size,
and writes the thresholds file the config's `validation.drift_thresholds`
names (pipelines/drift_thresholds.py); re-run it as spans arrive.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime
import glob
import math
import os
import sys
import textwrap
from collections.abc import Sequence

import yaml

from pipelines import config as config_lib

__all__ = [
    "MIN_CLASS_ROWS",
    "MIN_EVAL_ROWS",
    "MIN_TRAIN_ROWS",
    "DataSize",
    "baseline_threshold",
    "data_location",
    "data_size",
    "describe_feature",
    "fitted_settings",
    "infer_schema",
    "label_values",
    "main",
    "read_columns",
    "read_spans",
    "schema_text",
    "write_config",
    "write_drift_thresholds",
]

# The sample's config, shipped with this package: the written config takes its training settings.
_SAMPLE_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "local.yaml")
_MAX_LABEL_ROWS = 200_000


def data_location(input_dir: str, pattern: str) -> tuple[str, list[str]]:
    """The glob to read and the files it matches: the latest span's when the pattern has `{SPAN}`.

    Raises:
      FileNotFoundError: If nothing matches, naming the folder and pattern.
    """
    from common import spans as spans_lib

    location = os.path.join(input_dir, pattern)
    spans = spans_lib.available_spans(input_dir, pattern)
    if spans:
        location = os.path.join(input_dir, spans_lib.span_pattern(pattern, spans[-1]))
    files = sorted(path for path in glob.glob(location) if os.path.isfile(path))
    if not files:
        raise FileNotFoundError(f"no files in {input_dir!r} match {pattern!r}")
    return location, files


def infer_schema(location: str, input_format: str, label: str | None, label_sources: Sequence[str] = ()):
    """TFDV statistics of the files at `location` and the schema TFDV infers, with the label and its
    sources marked absent at serving.

    Returns:
      (schema, statistics) protos.

    Raises:
      ValueError: If the label or a label source is not a column of the data.
    """
    import tensorflow_data_validation as tfdv

    if input_format == "csv":
        statistics = tfdv.generate_statistics_from_csv(data_location=location)
    else:
        statistics = tfdv.generate_statistics_from_tfrecord(data_location=location)
    schema = tfdv.infer_schema(statistics)
    names = {feature.name for feature in schema.feature}
    for column in [*([label] if label else []), *label_sources]:
        if column not in names:
            raise ValueError(f"{column!r} is not a column of the data; its columns are: {', '.join(sorted(names))}")
    del schema.default_environment[:]
    schema.default_environment.extend(["TRAINING", "SERVING"])
    for feature in schema.feature:
        if feature.name == label or feature.name in label_sources:
            feature.not_in_environment.append("SERVING")
        if feature.HasField("value_count"):
            # CsvExampleGen writes an empty cell as a present feature with no values.
            feature.value_count.min = 0
    return schema, statistics


def describe_feature(feature_stats, kind: str | None, role: str | None, num_examples: int) -> str:
    """One comment line for a feature: how the trainer reads it and what the data showed."""
    parts = [role] if role else [f"reads as: {kind}" if kind else "not a model input"]
    common = feature_stats.num_stats.common_stats if feature_stats.HasField("num_stats") else None
    if feature_stats.HasField("string_stats"):
        common = feature_stats.string_stats.common_stats
        parts.append(f"{feature_stats.string_stats.unique} distinct values")
    if common is not None and num_examples:
        parts.append(f"present in {100.0 * common.num_non_missing / num_examples:.1f}% of examples")
    if feature_stats.HasField("num_stats") and common is not None and common.num_non_missing:
        stats = feature_stats.num_stats
        parts.append(f"{stats.min:g} to {stats.max:g}, mean {stats.mean:g}")
    return "# " + "; ".join(parts)


def schema_text(schema, statistics, kinds: dict[str, str], roles: dict[str, str], source: str) -> str:
    """The schema as commented text that parses back to the same proto."""
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    dataset = statistics.datasets[0]
    by_name = {".".join(feature.path.step): feature for feature in dataset.features}
    head = [
        f"# Schema of {source} ({dataset.num_examples} examples), inferred by",
        f"# `python -m pipelines.init_dataset schema` on {datetime.date.today().isoformat()}. Curate it: it is the",
        "# data contract the validation gate enforces, and it says how the trainer reads each",
        "# feature (the comment above it; docs/configuration.md, 'The task'):",
        "# - `shape { dim { size: 1 } }`: present in every example; `value_count`: may be missing.",
        "# - INT features are numbers: mark ids (zip codes, product ids) `int_domain { is_categorical: true }`.",
        "# - Bound numbers you know (`float_domain { min: 0 }`) to catch impossible values.",
        '# - The label, and columns it is computed from, carry not_in_environment: "SERVING".',
        "",
    ]
    rest = schema_pb2.Schema()
    rest.CopyFrom(schema)
    del rest.feature[:]
    lines = [*head, text_format.MessageToString(rest).rstrip(), ""]
    for feature in schema.feature:
        statistics_of = by_name.get(feature.name)
        if statistics_of is not None:
            lines.append(
                describe_feature(statistics_of, kinds.get(feature.name), roles.get(feature.name), dataset.num_examples)
            )
        body = text_format.MessageToString(feature, indent=2).rstrip()
        lines += ["feature {", body, "}"]
    return "\n".join(lines) + "\n"


def _kinds(schema, task: str, label: str, label_expression: str | None) -> tuple[dict[str, str], dict[str, str]]:
    """What resolve_task decides for each feature, and the label's role, for the comments."""
    from trainer import features
    from trainer.settings import TaskSettings

    settings = TaskSettings(type=task, label=label, label_expression=label_expression)
    roles = {}
    try:
        resolved = features.resolve_task(schema, settings)
    except features.TaskError as error:
        # Still write the schema: the comment says what to fix while curating it.
        return {}, {label: f"label ({task}); not trainable as inferred: {error}"}
    kinds = {}
    for feature in resolved.features:
        kind = feature.kind.value
        if feature.optional and kind == "numeric":
            kind += ", missing values take the mean and a presence input"
        elif feature.optional:
            kind += ", missing values have an id of their own"
        kinds[feature.name] = kind
    for column in resolved.label.source_columns:
        roles[column] = f"label ({task})" if column == label else "label source (absent at serving)"
    return kinds, roles


def baseline_threshold(task: str, label_values: Sequence) -> tuple[float, str]:
    """What a model that ignores the inputs scores on these labels, and how to read it.

    binary: AUC 0.5. multiclass: the most frequent class's share (accuracy of
    always predicting it). regression: the label's standard deviation (RMSE of
    always predicting the mean).
    """
    import numpy as np

    if task == "binary":
        return 0.5, "AUC of a model that guesses"
    values = np.asarray(label_values)
    if values.size == 0:
        raise ValueError("no label values to compute a baseline from")
    if task == "multiclass":
        _, counts = np.unique(values.astype(str), return_counts=True)
        return round(float(counts.max() / values.size), 4), "accuracy of always predicting the most frequent class"
    return round(float(values.astype(float).std()), 4), "RMSE of always predicting the mean"


def read_columns(files: Sequence[str], input_format: str, names: Sequence[str]) -> dict[str, list]:
    """Up to 200 000 rows of some columns (numbers as floats where they parse), for the baseline."""
    columns: dict[str, list] = {name: [] for name in names}
    if input_format == "csv":
        for path in files:
            with open(path, newline="", encoding="utf-8") as stream:
                for row in csv.DictReader(stream):
                    for name in names:
                        columns[name].append(_number_or_text(row.get(name) or ""))
                    if len(columns[names[0]]) >= _MAX_LABEL_ROWS:
                        return columns
        return columns
    import tensorflow as tf

    for record in tf.data.TFRecordDataset(list(files), compression_type="GZIP").take(_MAX_LABEL_ROWS):
        feature_map = tf.train.Example.FromString(record.numpy()).features.feature
        for name in names:
            feature = feature_map.get(name)
            kind = feature.WhichOneof("kind") if feature is not None else None
            values = list(getattr(feature, kind).value) if kind else []
            value = values[0] if values else ""
            columns[name].append(value.decode("utf-8") if isinstance(value, bytes) else value)
    return columns


def _number_or_text(text: str):
    try:
        return float(text)
    except ValueError:
        return text


def label_values(files: Sequence[str], input_format: str, label: str, label_expression: str | None) -> list:
    """The label of each row read: the column, or the expression evaluated with NumPy."""
    import numpy as np

    from trainer import expressions

    if not label_expression:
        return [value for value in read_columns(files, input_format, [label])[label] if value != ""]
    expression = expressions.parse(label_expression)
    columns = read_columns(files, input_format, sorted(expression.columns))
    arrays = {
        name: np.array([0.0 if value == "" else value for value in values], dtype=object)
        for name, values in columns.items()
    }
    arrays = {
        name: array.astype(float) if all(isinstance(v, float) for v in array) else array
        for name, array in arrays.items()
    }
    return list(np.asarray(expression.evaluate(arrays, expressions.NUMPY_OPS)))


@dataclasses.dataclass(frozen=True)
class DataSize:
    """What the config's defaults are fitted to: the newest span's rows and, for a classification, its classes.

    Attributes:
      rows: Rows of the newest span (all the data without spans).
      class_counts: Classification: rows per label value.
    """

    rows: int
    class_counts: dict[str, int] = dataclasses.field(default_factory=dict)


# The least data a run can train and evaluate on honestly.
MIN_TRAIN_ROWS, MIN_EVAL_ROWS, MIN_CLASS_ROWS = 100, 50, 10
# An eval split this large scores a model steadily; a smaller one takes half the rows.
_STEADY_EVAL_ROWS = 100


def fitted_settings(size: DataSize, task_type: str) -> tuple[dict, dict[str, str]]:
    """The config's data-dependent settings for data of this size, and the reason for each (by dotted key).

    Raises:
      ValueError: If the data is too small to train and evaluate on, naming the count and what is needed.
    """
    train_buckets, eval_buckets = (2, 1) if size.rows / 3 >= _STEADY_EVAL_ROWS else (1, 1)
    eval_rows = size.rows * eval_buckets // (train_buckets + eval_buckets)
    train_rows = size.rows - eval_rows
    if train_rows < MIN_TRAIN_ROWS or eval_rows < MIN_EVAL_ROWS:
        raise ValueError(
            f"the data has {size.rows} rows in its newest span: about {train_rows} would train and {eval_rows} "
            f"evaluate, and a model needs at least {MIN_TRAIN_ROWS} to train on and {MIN_EVAL_ROWS} to be scored "
            f"on ({MIN_TRAIN_ROWS + MIN_EVAL_ROWS} rows or more); add rows, or put more data in one span"
        )
    scarce = {name: count for name, count in size.class_counts.items() if count < MIN_CLASS_ROWS}
    if task_type != "regression" and scarce:
        raise ValueError(
            f"the label's classes {sorted(scarce)} have {sorted(scarce.values())} rows, fewer than "
            f"{MIN_CLASS_ROWS} each: too few to learn or to score; add rows of them, or merge them into others"
        )
    batch = min(128, max(8, 2 ** int(math.log2(train_rows / 10))))
    epochs = min(50, max(1, math.ceil(1000 * batch / train_rows)))
    steps = math.ceil(epochs * train_rows / batch)
    trial_epochs = max(1, epochs // 5)
    settings = {
        "input.train_buckets": train_buckets,
        "input.eval_buckets": eval_buckets,
        "validation.min_examples": min(100, max(1, eval_rows // 2)),
        "trainer.batch_size": batch,
        "trainer.train_epochs": epochs,
        "trainer.train_steps": steps,
        "tuner.max_trials": 3,
        "tuner.epochs_per_trial": trial_epochs,
        "tuner.steps_per_trial": math.ceil(trial_epochs * train_rows / batch),
        "tuner.validation_examples": None if eval_rows <= 100_000 else 100_000,
    }
    split = "2 of 3 hash buckets train, 1 evaluates" if eval_buckets == 1 and train_buckets == 2 else "half and half"
    reasons = {
        "input.train_buckets": f"{size.rows} rows a span: {split} (~{train_rows} train, ~{eval_rows} eval rows);"
        f" an eval split under {_STEADY_EVAL_ROWS} rows would score a model unsteadily",
        "validation.min_examples": f"half the ~{eval_rows} eval rows: a span like this passes, one under half its"
        " size stops at the gate",
        "trainer.batch_size": f"about a tenth of the ~{train_rows} training rows, a power of two, 8 to 128",
        "trainer.train_epochs": f"{epochs} passes over the training rows: about {steps} steps of {batch}, enough to"
        " converge on data this size",
        "tuner.max_trials": f"3 trials of {trial_epochs} epoch(s) each (a fifth of the training's)",
        "tuner.validation_examples": "every eval row scores each trial"
        if eval_rows <= 100_000
        else "the first 100 000 eval rows score each trial",
    }
    return settings, reasons


def _scalar(value) -> str:
    """A value as YAML on one line."""
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def _render(document: dict, comments: dict[str, str], prefix: str = "", indent: int = 0) -> list[str]:
    """YAML for nested mappings, with each commented key's reason on the line above it."""
    lines = []
    pad = " " * indent
    for key, value in document.items():
        dotted = f"{prefix}{key}"
        if dotted in comments:
            lines += [f"{pad}# {line}" for line in textwrap.wrap(comments[dotted], 100 - indent)]
        if isinstance(value, dict) and value:
            lines.append(f"{pad}{key}:")
            lines += _render(value, comments, f"{dotted}.", indent + 2)
        else:
            lines.append(f"{pad}{key}: {_scalar(value)}")
    return lines


def write_config(
    args: argparse.Namespace, threshold: float, why: str, size: DataSize, drift: tuple[str, str] | None = None
) -> str:
    """The config text for `config`: the sample's settings, fitted to the data's size, for all but data and task.

    Args:
      drift: The drift thresholds file measured on the data and what it rests on, once written.
    """
    sample = config_lib.load_config(_SAMPLE_CONFIG, check_local_paths=False)
    fitted, reasons = fitted_settings(size, args.task)
    root = os.path.join("outputs", args.name)
    task = {"type": args.task, "label": args.label}
    if args.label_expression:
        task["label_expression"] = args.label_expression
    if args.positive_class is not None:
        task["positive_class"] = args.positive_class
    task["features"] = {"exclude": list(args.exclude)}
    task["slices"] = list(args.slice)
    document = {
        "pipeline": {
            "name": args.name,
            "root": os.path.join(root, "pipeline_root"),
            "metadata_path": os.path.join(root, "metadata.sqlite"),
            "log_dir": os.path.join(root, "logs"),
        },
        "input": {"format": args.format, "path": args.input, "pattern": args.pattern},
        "task": task,
        "validation": {
            **({"drift_thresholds": drift[0]} if drift else {}),
            "schema_path": args.schema,
            "fail_on": "error",
        },
        "beam": {"args": list(sample.beam.args)},
        "tuner": sample.tuner.model_dump(mode="json"),
        "trainer": sample.trainer.model_dump(mode="json", exclude_defaults=True),
        "evaluator": {"threshold": threshold, "max_relative_drop": sample.evaluator.max_relative_drop},
        "pusher": {"serving_root": os.path.join(root, "serving")},
    }
    for dotted, value in fitted.items():
        section, key = dotted.split(".")
        document[section][key] = value
    reasons["evaluator.threshold"] = f"the {why} on this data: raise it once you know what a good model scores"
    if drift:
        reasons["validation.drift_thresholds"] = f"measured on this data by `init_dataset drift`: {drift[1]}"
    header = [
        f"# Pipeline config for {args.input}, written by `python -m pipelines.init_dataset config`.",
        "# Every key is described in docs/configuration.md; override any with --set key=value.",
        f"# evaluator.threshold {threshold} is the {why} on this data:",
        "# raise it once you know what a good model scores. The settings commented below fit the data's size.",
    ]
    return "\n".join([*header, *_render(document, reasons)]) + "\n"


def data_size(files: Sequence[str], input_format: str, task: str, label_values: Sequence) -> DataSize:
    """The rows of the files, and for a classification the rows per label value."""
    import numpy as np

    if input_format == "csv":
        rows = 0
        for path in files:
            with open(path, newline="", encoding="utf-8") as stream:
                rows += sum(1 for _ in csv.DictReader(stream))
    else:
        from trainer import data

        rows = data.count_examples(files)
    counts = {}
    if task != "regression":
        names, frequencies = np.unique(np.asarray(label_values).astype(str), return_counts=True)
        counts = dict(zip(names.tolist(), frequencies.tolist(), strict=True))
    return DataSize(rows, counts)


def read_spans(config, max_rows: int = _MAX_LABEL_ROWS) -> list[list[bytes]]:
    """Each span's serialized tf.Examples as ExampleGen reads them, oldest first (one for a pattern without {SPAN}).

    CSV rows become tf.Examples typed by the schema; at most `max_rows` rows per span are read.
    """
    from common import records
    from common import spans as spans_lib
    from pipelines import sample_data

    input_config = config.input
    numbers = spans_lib.available_spans(input_config.path, input_config.pattern)
    patterns = [spans_lib.span_pattern(input_config.pattern, n) for n in numbers] or [input_config.pattern]
    types = sample_data.column_types(config.validation.schema_path) if input_config.format == "csv" else {}
    spans = []
    for pattern in patterns:
        files = sorted(p for p in glob.glob(os.path.join(input_config.path, pattern)) if os.path.isfile(p))
        if input_config.format == "tfrecord":
            spans.append([bytes(r) for r in records.read_records(files).take(max_rows).as_numpy_iterator()])
            continue
        rows = []
        for path in files:
            with open(path, newline="", encoding="utf-8") as stream:
                rows.extend(row for _, row in zip(range(max_rows - len(rows)), csv.DictReader(stream), strict=False))
        spans.append([sample_data.serialize(row, types) for row in rows])
    return spans


def write_drift_thresholds(config, out: str | None, overwrite: bool) -> tuple[str, str]:
    """Derives the config's drift thresholds from its data and writes them; returns (path, summary)."""
    from pipelines import drift_thresholds, pipeline
    from trainer import features

    target = out or config.validation.drift_thresholds
    if target is None:
        target = os.path.join(os.path.dirname(config.validation.schema_path) or ".", "drift.yaml")
    spans = read_spans(config)
    schema = features.load_schema(config.validation.schema_path)
    buckets = [config.input.train_buckets, config.input.train_buckets + config.input.eval_buckets]
    # The inputs not checked, and why, stay as the file being replaced has them.
    kept = config_lib.read_drift_thresholds(target, "the file being replaced") if os.path.exists(target) else None
    unchecked = dict(kept.unchecked) if kept else {}
    derivation = drift_thresholds.derive_from_examples(
        spans, schema, pipeline.resolved_task(config), buckets, unchecked
    )
    source = f"{config.input.path} ({config.input.pattern})"
    _write(target, drift_thresholds.to_yaml(derivation, source), overwrite)
    spread = "between its spans and " if derivation.num_spans > 1 else ""
    summary = (
        f"{len(derivation.features)} inputs and the label, measured {spread}by bootstrap on "
        f"{derivation.num_spans} span(s) of ~{derivation.train_rows} training rows"
    )
    return target, summary


def _write(path: str, text: str, overwrite: bool) -> None:
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} exists; pass --overwrite to replace it")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as stream:
        stream.write(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    drift = commands.add_parser("drift", help="measure the drift thresholds of a config's data")
    drift.add_argument("--config", required=True, help="the pipeline config whose data and schema to measure")
    drift.add_argument(
        "--out", help="file to write (default: validation.drift_thresholds, or drift.yaml by the schema)"
    )
    drift.add_argument("--overwrite", action="store_true", help="replace the file if it exists")
    for name, help_text in (("schema", "infer a commented schema to curate"), ("config", "write a config")):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--input", required=True, help="folder holding the data")
        command.add_argument("--format", choices=["csv", "tfrecord"], default="csv")
        command.add_argument("--pattern", default="*", help="glob under --input; {SPAN} numbers spans")
        command.add_argument("--task", choices=["binary", "multiclass", "regression"], required=True)
        command.add_argument("--label", required=True, help="the column to predict, or a derived label's name")
        command.add_argument("--label-expression", help="derive the label, e.g. 'tips > 0.2 * fare'")
        command.add_argument("--out", required=True, help="file to write")
        command.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    schema = commands.choices["schema"]
    schema.add_argument(
        "--label-source", action="append", default=[], help="a column the label is computed from (repeat)"
    )
    config = commands.choices["config"]
    config.add_argument("--schema", required=True, help="the curated schema.pbtxt")
    config.add_argument("--name", required=True, help="pipeline name: lowercase letters, digits, dashes")
    config.add_argument("--positive-class", help="binary: the label value that counts as positive")
    config.add_argument("--exclude", action="append", default=[], help="a feature the model must not read (repeat)")
    config.add_argument("--slice", action="append", default=[], help="a feature to report metrics by (repeat)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "drift":
            config = config_lib.load_config(args.config)
            path, summary = write_drift_thresholds(config, args.out, args.overwrite)
            print(f"wrote {path}: {summary}")
            if config.validation.drift_thresholds != path:
                print(f"point the config at it: validation.drift_thresholds: {path}")
            return 0
        location, files = data_location(args.input, args.pattern)
        if args.command == "schema":
            label = None if args.label_expression else args.label
            schema, statistics = infer_schema(location, args.format, label, args.label_source)
            kinds, roles = _kinds(schema, args.task, args.label, args.label_expression)
            _write(args.out, schema_text(schema, statistics, kinds, roles, args.input), args.overwrite)
            print(f"wrote {args.out}: curate it, then write a config with `python -m pipelines.init_dataset config`")
            return 0
        values = label_values(files, args.format, args.label, args.label_expression)
        threshold, why = baseline_threshold(args.task, values)
        size = data_size(files, args.format, args.task, values)
        _write(args.out, write_config(args, threshold, why, size), args.overwrite)
        # The written config must load (the same checks as `make run`); then its drift thresholds are measured
        # and the config is written again, naming them.
        drift = write_drift_thresholds(config_lib.load_config(args.out), None, overwrite=True)
        _write(args.out, write_config(args, threshold, why, size, drift), overwrite=True)
        config_lib.load_config(args.out)
        thresholds = drift[0]
        print(f"wrote {args.out} and {thresholds}; run it with: make run CONFIG={args.out}")
        return 0
    except (OSError, ValueError, config_lib.ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
