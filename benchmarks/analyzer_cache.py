"""Benchmark: a retraining run with Transform's analyzer cache against one without it.

  python -m benchmarks.analyzer_cache [--copies 5] [--window 3]

Copies the taxi sample `--copies` times, cuts it by trip time into
`window + 1` spans, and on two fresh pipeline roots runs the pipeline on span
`window` (the first full window) and then on span `window + 1` (the window
slides by one span): once with `input.analyzer_cache` on, once off. The second
run is a retraining run: with the cache, the spans the first run analysed come
from it. Prints that run's Transform time and total wall time for both.
"""

from __future__ import annotations

import argparse
import pathlib
import tempfile

from pipelines import config as config_lib
from pipelines import local_runner, sample_data

FAST = ("tuner.enabled=false", "trainer.train_steps=100", "evaluator.threshold=0.0", "evaluator.max_relative_drop=1.0")


def main() -> None:
    from tests.conftest import config_overrides

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=5)
    parser.add_argument("--window", type=int, default=3)
    args = parser.parse_args()
    rows = sample_data.read_rows() * args.copies
    spans = sample_data.split_into_spans(rows, args.window + 1)
    results = {}
    with tempfile.TemporaryDirectory() as workdir:
        data = pathlib.Path(workdir) / "in"
        for cached in (True, False):
            out = pathlib.Path(workdir) / ("cached" if cached else "uncached")
            overrides = config_overrides(
                data, out, *FAST, f"input.window_spans={args.window}", f"input.analyzer_cache={str(cached).lower()}"
            )
            config = config_lib.load_config(local_runner.DEFAULT_CONFIG, overrides, check_local_paths=False)
            types = sample_data.column_types(config.validation.schema_path)
            for span in range(1, args.window + 2):
                if not pathlib.Path(config.input.span_dir(span)).exists():
                    sample_data.write_spans([spans[span - 1]], config.input, types, first_span=span)
            # The first full window, then the window slid by one span: hide the last span for the first run.
            last = pathlib.Path(config.input.span_dir(args.window + 1))
            hidden = last.with_name(".hidden")
            last.rename(hidden)
            local_runner.run(config)
            hidden.rename(last)
            timings = {t.component_id: t.seconds for t in local_runner.run(config)}
            results[cached] = (timings["Transform"], sum(seconds or 0.0 for seconds in timings.values()))
    print(
        f"\nRetraining run over {args.window} spans of ~{len(rows) // (args.window + 1)} rows, the window slid by one:"
    )
    for cached, (transform, total) in results.items():
        print(f"  analyzer cache {'on ' if cached else 'off'}: Transform {transform:6.1f}s, pipeline {total:6.1f}s")
    print(f"  Transform with the cache / without: {results[True][0] / results[False][0]:.2f}")


if __name__ == "__main__":
    main()
