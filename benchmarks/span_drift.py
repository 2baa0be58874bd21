"""Benchmark: the sample's drift thresholds, measured; their false alarms on normal spans; what they catch.

  python -m benchmarks.span_drift [--spans 4] [--config FILE] [--no-write]

1. Cuts the sample by trip time into spans (as `pipelines.sample_data
   --num-spans` does), keeps each span's training rows (ExampleGen's hash
   split), derives each model input's and the label's thresholds from the
   spread between the spans and the sampling noise at their size
   (pipelines/drift_thresholds.py) and writes them to the file
   `validation.drift_thresholds` names.
2. Checks them as the gate does, on TFDV's statistics: every later span
   against every earlier one (false alarms), and every later span shifted
   (each numeric input x1.5, x3, plus one baseline standard deviation, 20%
   more missing; the label's positive share cut to a tenth) against every
   earlier one (detection); then the smallest shift of each numeric input
   that every pair detects.
3. Compares the candidate numeric measures on the same spans: the largest
   value between normal spans, and the value at x1.5 (their ratio is how
   clearly a measure tells a unit change from normal variation).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Mapping

import numpy as np

from components.validation_gate import drift
from pipelines import config as config_lib
from pipelines import drift_thresholds, local_runner, sample_data
from pipelines.pipeline import resolved_task
from trainer import label_profile
from trainer.features import FeatureKind

Rows = list[dict[str, str]]
SHIFTS = ("x1.5", "x3", "+1 sd", "+20% missing")
LABEL_SHIFT = "positive share / 10"
SOURCE = "the taxi sample cut by trip time into 4 spans"
_SCALES = np.round(np.arange(1.01, 3.0001, 0.01), 2)
_SD_SHIFTS = np.round(np.arange(0.02, 2.0001, 0.02), 2)
_MISSING_STEPS = np.round(np.arange(0.01, 0.5001, 0.01), 2)


def _train_rows(rows: Rows, types: Mapping[str, str], buckets: list[int]) -> Rows:
    """The rows ExampleGen's hash split puts in the train split."""
    return [row for row in rows if drift_thresholds.in_train_split(sample_data.serialize(row, types), buckets)]


def _value(cell: str, numeric: bool):
    if cell == "":
        return None
    return float(cell) if numeric else cell


def _labels(rows: Rows, types, raw_spec, task) -> np.ndarray:
    import tensorflow as tf

    serialized = tf.constant([sample_data.serialize(row, types) for row in rows])
    return label_profile.encoded_labels(tf.io.parse_example(serialized, raw_spec), task)


def _profile(rows: Rows, types, raw_spec, task) -> label_profile.LabelProfile:
    import tensorflow as tf

    serialized = tf.constant([sample_data.serialize(row, types) for row in rows])
    return label_profile.profile([tf.io.parse_example(serialized, raw_spec)], task)


def _statistics(rows: Rows, types):
    return drift_thresholds.statistics_of([sample_data.serialize(row, types) for row in rows])


def _shifted(rows: Rows, name: str, change: Callable[[float], float]) -> Rows:
    """Every present value of `name` changed; an integer column stays integer (rounded)."""

    def cell(text: str) -> str:
        value = change(float(text))
        return str(round(value)) if text.lstrip("-").isdigit() else repr(value)

    return [{**row, name: cell(row[name])} if row[name] != "" else row for row in rows]


def _with_missing(rows: Rows, name: str, extra: float, seed: int = 0) -> Rows:
    """`extra` of all rows lose their value of `name` (chosen among the rows that have one)."""
    rng = np.random.default_rng(seed)
    present = [index for index, row in enumerate(rows) if row[name] != ""]
    dropped = set(rng.choice(present, size=min(len(present), round(extra * len(rows))), replace=False).tolist())
    return [{**row, name: ""} if index in dropped else row for index, row in enumerate(rows)]


def _sd(rows: Rows, name: str) -> float:
    return float(np.std([float(row[name]) for row in rows if row[name] != ""]))


def _fewer_positives(rows: Rows, labels: np.ndarray, keep: float, seed: int = 0) -> Rows:
    """Keeps `keep` of the rows whose (binary) label is 1, all the others: the positive share falls."""
    rng = np.random.default_rng(seed)
    return [row for row, label in zip(rows, labels, strict=True) if label != 1 or rng.random() < keep]


def _numeric_values(rows: Rows, name: str) -> list:
    return [_value(row[name], True) for row in rows]


def _smallest(grid: np.ndarray, detects: Callable[[float], bool]) -> float:
    return next((float(step) for step in grid if detects(step)), math.nan)


def _serialized(rows: Rows, types) -> list[bytes]:
    return [sample_data.serialize(row, types) for row in rows]


class Sample:
    """The sample cut by time into spans of training rows, with what the checks need of each."""

    def __init__(self, config, num_spans: int):
        import tensorflow_data_validation as tfdv
        from tensorflow_transform.tf_metadata import schema_utils

        self.task = resolved_task(config)
        self.schema = tfdv.load_schema_text(config.validation.schema_path)
        self.raw_spec = schema_utils.schema_as_feature_spec(self.schema).feature_spec
        self.types = sample_data.column_types(config.validation.schema_path)
        self.buckets = [config.input.train_buckets, config.input.train_buckets + config.input.eval_buckets]
        thresholds = config_lib.load_drift_thresholds(config) if config.validation.drift_thresholds else None
        self.unchecked = dict(thresholds.unchecked) if thresholds else {}
        self.inputs = [feature.name for feature in self.task.features if feature.name not in self.unchecked]
        self.scaled = [
            f.name for f in self.task.features if f.kind is not FeatureKind.CATEGORICAL and f.name in self.inputs
        ]
        self.numeric = {name: self.types[name] in ("INT", "FLOAT") for name in self.inputs}
        spans = sample_data.split_into_spans(sample_data.read_rows(), num_spans)
        self.spans = [_train_rows(span, self.types, self.buckets) for span in spans]
        self.pairs = [(later, earlier) for later in range(len(self.spans)) for earlier in range(later)]
        self.statistics = [self.statistics_of(span) for span in self.spans]
        self.profiles = [_profile(span, self.types, self.raw_spec, self.task) for span in self.spans]
        self.labels = [_labels(span, self.types, self.raw_spec, self.task) for span in self.spans]
        self.derivation = drift_thresholds.derive_from_examples(
            [_serialized(span, self.types) for span in spans], self.schema, self.task, self.buckets, self.unchecked
        )
        self.thresholds = self.derivation.thresholds()

    def statistics_of(self, rows: Rows):
        return _statistics(rows, self.types)

    def with_feature(self, statistics, rows: Rows, name: str):
        """A span's statistics with one feature's replaced by its statistics over `rows` (the same rows, that
        feature changed): TFDV describes each feature on its own, so the rest stand."""
        import pyarrow as pa

        from common import tfx_compat

        kind = {"INT": pa.int64(), "FLOAT": pa.float32(), "BYTES": pa.binary()}[self.types[name]]
        values = [_value(row[name], self.numeric[name]) for row in rows]
        if kind == pa.binary():
            values = [value.encode() if value is not None else None for value in values]
        elif kind == pa.int64():
            values = [int(value) if value is not None else None for value in values]
        column = pa.array([[value] if value is not None else None for value in values], type=pa.list_(kind))
        batch = pa.RecordBatch.from_arrays([column], [name])
        (dataset,) = tfx_compat.statistics_in_memory(batch, drift.statistics_options()).datasets
        changed = type(statistics)()
        changed.CopyFrom(statistics)
        del changed.features[:]
        changed.features.extend([f for f in statistics.features if ".".join(f.path.step) != name])
        changed.features.extend(dataset.features)
        return changed

    def stopped(self, current, current_profile, earlier: int) -> set[str]:
        """The features (and the label) the gate would stop a span with these statistics for."""
        measures = drift.compare(current, self.statistics[earlier], self.inputs, self.thresholds)
        if current_profile is not None:
            measures += drift.label_measures(
                current_profile, self.profiles[earlier], self.task.type, self.thresholds.label, self.thresholds.rows
            )
        return {measure.feature for measure in measures if measure.exceeded}


def false_alarms(sample: Sample) -> dict[str, int]:
    counts = {name: 0 for name in [*sample.inputs, drift.LABEL_FEATURE]}
    for later, earlier in sample.pairs:
        for name in sample.stopped(sample.statistics[later], sample.profiles[later], earlier):
            counts[name] += 1
    return counts


def detections(sample: Sample) -> dict[tuple[str, str], int]:
    """How many pairs stop each shift of each numeric input, and the label's collapse."""
    found: dict[tuple[str, str], int] = {}
    for later, earlier in sample.pairs:
        for name in sample.scaled:
            sd = _sd(sample.spans[earlier], name)
            variants = {
                "x1.5": _shifted(sample.spans[later], name, lambda v: v * 1.5),
                "x3": _shifted(sample.spans[later], name, lambda v: v * 3),
                "+1 sd": _shifted(sample.spans[later], name, lambda v, s=sd: v + s),
                "+20% missing": _with_missing(sample.spans[later], name, 0.2),
            }
            for shift, rows in variants.items():
                current = sample.with_feature(sample.statistics[later], rows, name)
                if name in sample.stopped(current, None, earlier):
                    found[(name, shift)] = found.get((name, shift), 0) + 1
        if sample.task.type == "binary":
            rows = _fewer_positives(sample.spans[later], sample.labels[later], keep=0.1)
            profile = _profile(rows, sample.types, sample.raw_spec, sample.task)
            if drift.LABEL_FEATURE in sample.stopped(sample.statistics_of(rows), profile, earlier):
                found[(drift.LABEL_FEATURE, LABEL_SHIFT)] = found.get((drift.LABEL_FEATURE, LABEL_SHIFT), 0) + 1
    return found


def _smallest_shifts(sample: Sample, name: str) -> list[str]:
    """The smallest scale factor, shift (in baseline sds) and extra missing share every pair detects."""
    limit = sample.thresholds.features[name]

    def every_pair(change: Callable[[Rows, Rows, float], Rows]) -> Callable[[float], bool]:
        def detects(step: float) -> bool:
            for later, earlier in sample.pairs:
                old = _numeric_values(sample.spans[earlier], name)
                new = _numeric_values(change(sample.spans[later], sample.spans[earlier], step), name)
                distances = drift_thresholds.feature_distances(new, old, True)
                limits = {"distance": limit.distance, "missing": limit.missing, "zeros": limit.zeros}
                if not any(distances[key] > limits[key] for key in limits):
                    return False
            return True

        return detects

    scale = every_pair(lambda rows, _, f: _shifted(rows, name, lambda v: v * f))
    shift = every_pair(lambda rows, base, k: _shifted(rows, name, lambda v: v + k * _sd(base, name)))
    missing = every_pair(lambda rows, _, extra: _with_missing(rows, name, extra))
    return [
        f"x{_smallest(_SCALES, scale):g}",
        f"{_smallest(_SD_SHIFTS, shift):g}",
        f"{_smallest(_MISSING_STEPS, missing):g}",
    ]


def _print_table(sample: Sample) -> None:
    alarms, detected, pairs = false_alarms(sample), detections(sample), len(sample.pairs)
    print(
        f"\nDrift thresholds and checks on {len(sample.spans)} spans of the sample "
        f"(~{sample.derivation.train_rows} train rows each, {pairs} later-vs-earlier pairs):\n"
    )
    print(
        "| input | measure | natural max | noise p99 | threshold | false alarms | "
        + " | ".join(SHIFTS)
        + " | smallest scale | smallest shift (sd) | smallest extra missing |"
    )
    print("| --- | --- | --- | --- | --- | --- | " + " | ".join("---" for _ in SHIFTS) + " | --- | --- | --- |")
    for name in sample.inputs:
        evidence = sample.derivation.features[name]["distance"]
        scaled = name in sample.scaled
        shifts = " | ".join(f"{detected.get((name, shift), 0)}/{pairs}" if scaled else "" for shift in SHIFTS)
        smallest = _smallest_shifts(sample, name) if scaled else ["", "", ""]
        print(
            f"| {name} | {'KS' if sample.numeric[name] else 'L-inf'} | {evidence.natural:.3f} | {evidence.noise:.3f} "
            f"| {evidence.threshold:g} | {alarms[name]}/{pairs} | {shifts} | " + " | ".join(smallest) + " |"
        )
    for key, evidence in sample.derivation.label.items():
        caught = detected.get((drift.LABEL_FEATURE, LABEL_SHIFT), 0)
        print(
            f"| (label) | {key} | {evidence.natural:.3f} | {evidence.noise:.3f} | {evidence.threshold:g} "
            f"| {alarms[drift.LABEL_FEATURE]}/{pairs} | {LABEL_SHIFT}: {caught}/{pairs} |"
        )
    for name, reason in sorted(sample.unchecked.items()):
        print(f"| {name} | not checked | | | | | {reason} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=4)
    parser.add_argument("--config", default=local_runner.DEFAULT_CONFIG)
    parser.add_argument("--no-write", action="store_true", help="print the thresholds, do not write the file")
    args = parser.parse_args()
    config = config_lib.load_config(args.config, check_local_paths=False)
    sample = Sample(config, args.spans)
    source = SOURCE if args.spans == 4 else f"the taxi sample cut by trip time into {args.spans} spans"
    text = drift_thresholds.to_yaml(sample.derivation, source)
    target = config.validation.drift_thresholds
    if target and not args.no_write:
        with open(target, "w", encoding="utf-8") as stream:
            stream.write(text)
        print(f"wrote {target}")
    else:
        print(text)
    _print_table(sample)
    _compare_measures(sample)


def _compare_measures(sample: Sample) -> None:
    """Each candidate numeric measure: its largest value between normal spans and its median at x1.5."""
    import copy

    spans, names, types, pairs, schema = sample.spans, sample.scaled, sample.types, sample.pairs, sample.schema

    def jsd(new_rows, old_rows, name) -> float:
        with_comparator = copy.deepcopy(schema)
        for feature in with_comparator.feature:
            feature.ClearField("drift_comparator")
            if feature.name == name:
                feature.drift_comparator.jensen_shannon_divergence.threshold = 1e-9
        measures = drift.schema_comparators(_statistics(new_rows, types), with_comparator, _statistics(old_rows, types))
        return next((m.value for m in measures if m.feature == name), 0.0)

    candidates: dict[str, Callable] = {
        "Kolmogorov-Smirnov (chosen)": drift.ks_distance,
        "population stability index": drift.psi,
        "Wasserstein-1 / IQR": drift.wasserstein_iqr,
    }
    print("\nCandidate numeric measures (largest between normal spans; median at x1.5; ratio):\n")
    print("| input | " + " | ".join(candidates) + " | TFDV Jensen-Shannon |")
    print("| --- | " + " | ".join("---" for _ in candidates) + " | --- |")
    for name in names:
        cells = []
        for measure in candidates.values():

            def distance(new_rows, old_rows, f=measure, column=name):
                new, old = (
                    drift.from_values(_numeric_values(rows, column), len(rows), True) for rows in (new_rows, old_rows)
                )
                return f(new, old)

            normal = max(distance(spans[a], spans[b]) for a, b in pairs)
            shifted = float(
                np.median([distance(_shifted(spans[a], name, lambda v: v * 1.5), spans[b]) for a, b in pairs])
            )
            cells.append(f"{normal:.3f}; {shifted:.3f}; {shifted / normal if normal else math.inf:.1f}")
        normal = max(jsd(spans[a], spans[b], name) for a, b in pairs)
        shifted = float(np.median([jsd(_shifted(spans[a], name, lambda v: v * 1.5), spans[b], name) for a, b in pairs]))
        cells.append(f"{normal:.3f}; {shifted:.3f}; {shifted / normal if normal else math.inf:.1f}")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
