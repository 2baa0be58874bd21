"""Benchmark: how much the sample's features drift from span to span, to set the schema's drift thresholds.

  python -m benchmarks.span_drift [--spans 4] [--schema schemas/taxi/schema.pbtxt]

Cuts the taxi sample by trip time into spans (as `pipelines.sample_data
--num-spans` does), computes each span's statistics with TFDV as StatisticsGen
does (no schema), and measures every model input of the sample's task for
every pair of spans (a later span against any earlier one: the baseline is
the data of the latest blessed model, which may be several spans back), with
the comparator the schema should declare: L-infinity distance for string
features, Jensen-Shannon divergence for numbers (integer categories included:
without a schema their statistics are numeric). Prints the largest measure,
a threshold with headroom (1.5x, rounded up, at least 0.05 for the sampling
noise of smaller spans; none where normal spans already drift 0.5 or more),
and the schema's.
"""

from __future__ import annotations

import argparse
import math
import tempfile

from components.validation_gate import drift
from pipelines import config as config_lib
from pipelines import local_runner, sample_data
from pipelines.pipeline import resolved_task
from trainer.features import FeatureKind

_NOISE_FLOOR = 0.05
_SATURATED = 0.5


def _statistics(rows, types, folder: str, index: int):
    """TFDV statistics of the rows as the pipeline reads them: gzipped tf.Examples typed by the schema."""
    import os

    import tensorflow as tf
    import tensorflow_data_validation as tfdv

    path = os.path.join(folder, f"span-{index}.tfrecord.gz")
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for row in rows:
            writer.write(sample_data.serialize(row, types))
    return tfdv.generate_statistics_from_tfrecord(data_location=path)


def main() -> None:

    import tensorflow_data_validation as tfdv

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=4)
    parser.add_argument("--config", default=local_runner.DEFAULT_CONFIG)
    args = parser.parse_args()
    config = config_lib.load_config(args.config, check_local_paths=False)
    task = resolved_task(config)
    schema = tfdv.load_schema_text(config.validation.schema_path)
    rows = sample_data.read_rows()
    spans = sample_data.split_into_spans(rows, args.spans)
    types = sample_data.column_types(config.validation.schema_path)
    with tempfile.TemporaryDirectory() as folder:
        statistics = [_statistics(span, types, folder, index) for index, span in enumerate(spans, start=1)]
    categorical = {f.name for f in task.features if f.kind is FeatureKind.CATEGORICAL and f.dtype == "BYTES"}
    for feature in schema.feature:
        feature.ClearField("drift_comparator")
        if feature.name in task.input_columns:
            comparator = feature.drift_comparator
            if feature.name in categorical:
                comparator.infinity_norm.threshold = 0.0
            else:
                comparator.jensen_shannon_divergence.threshold = 0.0
    measures: dict[str, list[float]] = {}
    pairs = [(later, earlier) for later in range(len(spans)) for earlier in range(later)]
    for later, earlier in pairs:
        # The gate's own comparison (components/validation_gate/drift.py), with every threshold at 0.
        for measure in drift.compare(statistics[later].datasets[0], schema, previous=statistics[earlier].datasets[0]):
            measures.setdefault(measure.feature, []).append(measure.value)
    pair_names = ", ".join(f"{later + 1}v{earlier + 1}" for later, earlier in pairs)
    curated = {f.name: f for f in tfdv.load_schema_text(config.validation.schema_path).feature}
    print(f"\nDrift between the sample's spans ({args.spans} spans of ~{len(rows) // args.spans} rows, by trip time):")
    print(f"  {'feature':24s} {'measure':16s} {pair_names:42s} {'max':>7s} {'suggested':>9s} {'schema':>7s}")
    for name in sorted(measures):
        values = measures[name]
        measure = "L-infinity" if name in categorical else "Jensen-Shannon"
        comparator = curated[name].drift_comparator if name in curated else None
        in_schema = (
            comparator.infinity_norm.threshold
            if comparator and comparator.HasField("infinity_norm")
            else comparator.jensen_shannon_divergence.threshold
            if comparator and comparator.HasField("jensen_shannon_divergence")
            else float("nan")
        )
        suggested = max(math.ceil(max(values) * 1.5 * 100) / 100, _NOISE_FLOOR)
        # Where normal spans already drift this far, a comparator would flag every span or none.
        suggested_text = f"{suggested:9.2f}" if max(values) < _SATURATED else f"{'none':>9s}"
        spread = ", ".join(f"{value:.2f}" for value in values)
        print(f"  {name:24s} {measure:16s} {spread:42s} {max(values):7.3f} {suggested_text} {in_schema:7.2f}")


if __name__ == "__main__":
    main()
