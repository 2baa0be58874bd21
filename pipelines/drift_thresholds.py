"""Drift thresholds measured on the data: the spread between natural spans, and the sampling noise at a span's size.

For each model input and the label, `derive` measures the validation gate's
distances (components/validation_gate/drift.py)
- between every later span and every earlier one: what normal data does over
  time (the gate's baseline may be several spans back), and
- between two bootstrap resamples of one span at its training size: what
  chance alone does, which is all there is to go on with a single span;
and sets each threshold a margin above the larger of the two, so that neither
a normal span nor noise trips it. `to_yaml` writes the thresholds file that
`validation.drift_thresholds` names, each threshold with its evidence.
`make bench-drift` derives the sample's; `python -m pipelines.init_dataset
drift` yours.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import yaml

from components.validation_gate import drift
from components.validation_gate.settings import DriftThresholds, FeatureThresholds, LabelThresholds

__all__ = [
    "MARGIN",
    "Derivation",
    "Evidence",
    "columns_of",
    "derive",
    "derive_from_examples",
    "feature_distances",
    "in_train_split",
    "label_distances",
    "statistics_of",
    "to_yaml",
    "train_part",
]

# The threshold over the larger of the natural spread and the noise.
MARGIN = 1.5
# The least a threshold may be: a change this small is never worth stopping a run for.
FLOOR = 0.01
_NOISE_QUANTILE = 0.99


@dataclasses.dataclass(frozen=True)
class Evidence:
    """What one threshold rests on.

    Attributes:
      natural: The largest value between natural spans (NaN with one span).
      noise: The 99th percentile between bootstrap resamples of a span at its training size.
      threshold: MARGIN over the larger of the two, rounded up, at least FLOOR.
    """

    natural: float
    noise: float
    threshold: float


def _described(evidence: Evidence) -> str:
    """'natural 0.0501, noise 0.0410' (no natural figure with one span)."""
    natural = "" if math.isnan(evidence.natural) else f"natural {evidence.natural:.4f}, "
    return f"{natural}noise {evidence.noise:.4f}"


def _threshold(natural: float, noise: float) -> float:
    largest = max(value for value in (natural, noise, 0.0) if not math.isnan(value))
    raw = max(largest * MARGIN, FLOOR)
    digits = 1 - math.floor(math.log10(raw))  # two significant digits, rounded up
    return math.ceil(raw * 10**digits) / 10**digits


def _evidence(natural: Sequence[float], noise: Sequence[float]) -> Evidence:
    top = max(natural) if natural else math.nan
    quantile = float(np.quantile(noise, _NOISE_QUANTILE)) if noise else math.nan
    return Evidence(top, quantile, _threshold(top, quantile))


@dataclasses.dataclass(frozen=True)
class Derivation:
    """Every threshold with its evidence, and what it was measured on."""

    features: dict[str, dict[str, Evidence]]  # feature -> {"distance", "missing"[, "zeros"]: ...}
    label: dict[str, Evidence]  # "classes", or "mean_shift" and "spread"
    num_spans: int
    train_rows: int
    unchecked: dict[str, str] = dataclasses.field(default_factory=dict)  # inputs not measured, and why

    def thresholds(self) -> DriftThresholds:
        """The thresholds file's content."""
        features = {
            name: FeatureThresholds(**{key: item.threshold for key, item in evidence.items()})
            for name, evidence in self.features.items()
        }
        label = LabelThresholds(**{key: evidence.threshold for key, evidence in self.label.items()})
        return DriftThresholds(features=features, label=label, unchecked=self.unchecked, rows=self.train_rows)


def statistics_of(serialized: Sequence[bytes]):
    """TFDV's statistics (a DatasetFeatureStatistics) of serialized tf.Examples, in memory, as StatisticsGen's.

    TFDV's own generators, decoding as StatisticsGen's reader does; no Beam pipeline.
    """
    from tfx_bsl.coders import example_coder

    from common import tfx_compat

    batch = example_coder.ExamplesToRecordBatchDecoder().DecodeBatch(list(serialized))
    (dataset,) = tfx_compat.statistics_in_memory(batch, drift.statistics_options()).datasets
    return dataset


def _distribution(values: Sequence, numeric: bool) -> drift.Distribution:
    return drift.from_values(values, len(values), numeric)


def feature_distances(new: Sequence, old: Sequence, numeric: bool) -> dict[str, float]:
    """The gate's measures between two sets of one input's values (None: missing): distance, missing, zeros."""
    now, then = _distribution(new, numeric), _distribution(old, numeric)
    if not now.num_present or not then.num_present:
        distance = 0.0
    else:
        distance = drift.ks_distance(now, then) if numeric else drift.linf_distance(now, then)
    measures = {"distance": distance, "missing": abs(now.missing_share - then.missing_share)}
    if numeric:
        measures["zeros"] = abs(now.zero_share - then.zero_share)
    return measures


def label_distances(new: Sequence, old: Sequence, task_type: str) -> dict[str, float]:
    """The gate's label measures between two sets of label values (class names, or numbers for regression)."""
    if task_type != "regression":
        return {"classes": drift.class_psi(_shares(new), _shares(old))}
    new, old = np.asarray(new, dtype=np.float64), np.asarray(old, dtype=np.float64)
    mean_shift = abs(new.mean() - old.mean()) / old.std() if old.std() else 0.0
    spread = abs(math.log(new.std() / old.std())) if new.std() and old.std() else 0.0
    return {"mean_shift": float(mean_shift), "spread": float(spread)}


def _shares(values: Sequence) -> dict[str, float]:
    names, counts = np.unique(np.asarray(values).astype(str), return_counts=True)
    return dict(zip(names.tolist(), (counts / counts.sum()).tolist(), strict=True))


def _resample(values: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    return values[rng.integers(0, len(values), size)]


def derive(
    spans: Sequence[Mapping[str, Sequence]],
    labels: Sequence[Sequence],
    numeric: Mapping[str, bool],
    task_type: str,
    num_bootstrap: int = 100,
    seed: int = 0,
) -> Derivation:
    """Each input's and the label's thresholds from spans of training rows, oldest first.

    Args:
      spans: Per span, each model input's values (None where missing), as many as the span's training rows.
      labels: Per span, the label of each of those rows.
      numeric: For each model input, whether it is compared as a number (else by its values' shares).
      task_type: binary, multiclass or regression.
      num_bootstrap: Resampled pairs per span for the noise.
      seed: Of the resampling.
    """
    rng = np.random.default_rng(seed)
    pairs = [(later, earlier) for later in range(len(spans)) for earlier in range(later)]

    def measured(samples: Sequence[np.ndarray], distances: Callable, keys: Sequence[str]) -> dict[str, Evidence]:
        """Each measure between every later and earlier sample, and between bootstrap resamples of each."""
        natural = [distances(samples[a], samples[b]) for a, b in pairs]
        noise = [
            distances(_resample(values, rng, len(values)), _resample(values, rng, len(values)))
            for values in samples
            for _ in range(num_bootstrap)
        ]
        return {key: _evidence([d[key] for d in natural], [d[key] for d in noise]) for key in keys}

    features = {}
    for name, is_numeric in sorted(numeric.items()):
        columns = [np.asarray(span[name], dtype=np.float64 if is_numeric else object) for span in spans]
        keys = ("distance", "missing", "zeros") if is_numeric else ("distance", "missing")
        features[name] = measured(columns, functools.partial(feature_distances, numeric=is_numeric), keys)
    label_samples = [np.asarray(span_labels, dtype=object) for span_labels in labels]
    keys = ("classes",) if task_type != "regression" else ("mean_shift", "spread")
    label = measured(label_samples, functools.partial(label_distances, task_type=task_type), keys)
    return Derivation(features, label, len(spans), int(np.mean([len(labels_) for labels_ in labels])))


def in_train_split(record: bytes, buckets: Sequence[int]) -> bool:
    """Whether ExampleGen's hash split puts a serialized example in the train split (cumulative buckets: [2, 3])."""
    import hashlib

    from components.example_gen import batched

    return batched.partition_of(hashlib.sha256(record).digest(), buckets) == 0


def train_part(serialized: Sequence[bytes], buckets: Sequence[int]) -> list[bytes]:
    """The examples ExampleGen's hash split puts in the train split."""
    return [record for record in serialized if in_train_split(record, buckets)]


def columns_of(serialized: Sequence[bytes], names: Sequence[str]) -> dict[str, list]:
    """Each named feature's first value in each tf.Example (None where it has none), as Python values."""
    import tensorflow as tf

    columns: dict[str, list] = {name: [] for name in names}
    for record in serialized:
        feature_map = tf.train.Example.FromString(record).features.feature
        for name in names:
            feature = feature_map.get(name)
            kind = feature.WhichOneof("kind") if feature is not None else None
            values = list(getattr(feature, kind).value) if kind else []
            value = values[0] if values else None
            columns[name].append(value.decode("utf-8", "replace") if isinstance(value, bytes) else value)
    return columns


def derive_from_examples(
    spans: Sequence[Sequence[bytes]], schema, task, buckets: Sequence[int], unchecked: Mapping[str, str], seed: int = 0
) -> Derivation:
    """`derive` on spans of serialized raw tf.Examples, oldest first: their train parts, inputs and labels.

    Args:
      spans: Each span's serialized tf.Examples (all its rows: the train part is taken here).
      schema: The curated schema (schema_pb2.Schema): how each input is compared, and how to parse the label.
      task: The resolved TaskSpec.
      buckets: The config's cumulative hash buckets (train, train + eval).
      unchecked: Inputs whose drift is not checked, and why (kept in the derivation).
      seed: Of the resampling.
    """
    import tensorflow as tf
    from tensorflow_metadata.proto.v0 import schema_pb2
    from tensorflow_transform.tf_metadata import schema_utils

    from trainer import label_profile

    types = {feature.name: feature.type for feature in schema.feature}
    inputs = [feature.name for feature in task.features if feature.name not in unchecked]
    numeric = {name: types[name] in (schema_pb2.INT, schema_pb2.FLOAT) for name in inputs}
    raw_spec = schema_utils.schema_as_feature_spec(schema).feature_spec
    columns, labels = [], []
    for span in spans:
        train = train_part(span, buckets)
        if not train:
            continue
        columns.append(columns_of(train, inputs))
        batch = tf.io.parse_example(tf.constant(train), raw_spec)
        labels.append(label_profile.encoded_labels(batch, task).tolist())
    if not columns:
        raise ValueError("no training rows to measure drift on: the data's train split is empty")
    return dataclasses.replace(derive(columns, labels, numeric, task.type, seed=seed), unchecked=dict(unchecked))


def to_yaml(derivation: Derivation, source: str) -> str:
    """The thresholds file: the thresholds, and above each the evidence it rests on.

    Args:
      derivation: From `derive`.
      source: What the spans were, for the header (e.g. "4 spans of the sample, cut by trip time").
    """
    unchecked = derivation.unchecked
    natural = "the largest between natural spans" if derivation.num_spans > 1 else "(one span: no natural spread)"
    lines = [
        f"# Drift thresholds measured on {source}: {derivation.num_spans} span(s) of ~{derivation.train_rows} "
        "training rows.",
        f"# Each is {MARGIN}x the larger of {natural} and the 99th percentile of the sampling noise",
        f"# between two bootstrap resamples of a span (at least {FLOOR}). Re-derive them as data arrives;",
        "# validation.drift_thresholds names this file (docs/validation.md, 'Drift and skew').",
    ]
    thresholds = derivation.thresholds()
    lines.append("# A smaller span's thresholds rise by its extra sampling noise (docs/validation.md).")
    lines.append(f"rows: {derivation.train_rows}")
    if unchecked:
        lines.append("unchecked:  # inputs whose drift is not checked, and why (kept when derived again)")
        lines += [
            f"  {name}: {yaml.safe_dump(reason, default_style=None).strip().removesuffix('...').strip()}"
            for name, reason in sorted(unchecked.items())
        ]
    lines.append("features:")
    for name in sorted(derivation.features):
        for key, evidence in derivation.features[name].items():
            lines.append(f"  # {name} {key}: {_described(evidence)}")
        values = thresholds.features[name].model_dump(exclude_unset=True)
        lines.append(f"  {name}: " + yaml.safe_dump(values, default_flow_style=True).strip())
    lines.append("label:")
    for key, evidence in derivation.label.items():
        lines.append(f"  # {key}: {_described(evidence)}")
        lines.append(f"  {key}: {evidence.threshold}")
    return "\n".join(lines) + "\n"
