"""Benchmark: the pipeline on 1x, 10x and 100x the sample, per component, with each scale's ratio to 1x.

  python -m benchmarks.scale [--scales 1 10 100] [--config FILE] [--set KEY=VALUE ...] [--keep DIR]

Writes the bundled sample once as a gzipped TFRecord span and builds each
scale's span from that many hard links to it (nothing is committed or copied),
then runs the whole pipeline on it in a child process (`pipelines.local_runner`,
caching off, a fresh root) and prints one table: each component's wall time
and rows/s, the total wall time, the peak memory of the child and every
process it starts (sampled twice a second; PSS), and each figure's ratio
to the first scale; then a second table, the peak memory while each component
ran (the child's progress lines say which is running). Rows/s counts the rows a component reads: every row for
ExampleGen, StatisticsGen and Transform, the eval split for the Evaluator, the
examples trained on (steps x batch) for the Trainer.

The default overrides train one full epoch of the training split
(`trainer.train_epochs=1`, no step cap): the figures are for a model that saw
all of its data. Pass --set to try other settings (--set beam.args=[...]).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import threading
import time

from pipelines import config as config_lib
from pipelines import local_runner, run_summary, sample_data

# One epoch of whatever the split holds; train_steps only caps, so lift it.
DEFAULT_OVERRIDES = ("pipeline.enable_cache=false", "trainer.train_epochs=1", "trainer.train_steps=1000000000")
# Components whose rows/s is over every input row; the Evaluator's is over the eval split.
ALL_ROWS = ("ExampleGen", "StatisticsGen", "Transform")
# The child's progress line when a component starts (pipelines/progress.py).
_RUNNING = re.compile(r"\] (\S+) running \.\.\.")


@dataclasses.dataclass(frozen=True)
class ScaleRun:
    scale: int
    rows: int
    eval_rows: int
    trained_examples: int
    seconds: dict[str, float]
    total: float
    peak_memory_mb: float  # the process tree's largest total (PSS: shared pages counted once)
    outcome: str
    component_memory_mb: dict[str, float] = dataclasses.field(default_factory=dict)  # the peak while each ran


class _TreeMemory:
    """Samples the memory of a process and all its descendants (Beam's worker processes included).

    wait4's ru_maxrss is the largest single process; with several processes
    the peak that matters is their sum at one moment, with shared pages
    counted once (PSS).
    """

    def __init__(self, pid: int, interval: float = 0.5):
        self._pid, self._interval, self.peak_bytes = pid, interval, 0
        # The component running now (set from the child's progress lines), and each one's peak.
        self.component = ""
        self.component_peaks: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        import psutil

        try:
            root = psutil.Process(self._pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop.is_set():
            total = 0
            try:
                processes = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for process in processes:
                try:
                    total += process.memory_full_info().pss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
            self.peak_bytes = max(self.peak_bytes, total)
            if self.component:
                self.component_peaks[self.component] = max(self.component_peaks.get(self.component, 0), total)
            self._stop.wait(self._interval)

    def stop(self) -> float:
        """Stops sampling; returns the peak in MB."""
        self._stop.set()
        self._thread.join()
        return self.peak_bytes / 2**20


def _sample_span(workdir: pathlib.Path, config: config_lib.PipelineConfig) -> tuple[pathlib.Path, int]:
    """The sample as one gzipped TFRecord file; returns it and its row count."""
    rows = sample_data.read_rows()
    input_config = config.input.model_copy(update={"path": str(workdir / "sample"), "format": "tfrecord"})
    types = sample_data.column_types(config.validation.schema_path)
    (folder,) = sample_data.write_spans([rows], input_config, types)
    (path,) = pathlib.Path(folder).iterdir()
    return path, len(rows)


def _scaled_input(sample: pathlib.Path, scale: int, folder: pathlib.Path) -> pathlib.Path:
    """`folder/span-1/` holding `scale` hard links to the sample file."""
    span = folder / "span-1"
    span.mkdir(parents=True)
    for copy in range(scale):
        os.link(sample, span / f"part-{copy:05d}.tfrecord.gz")
    return folder


def _split_rows(root: str) -> dict[str, int]:
    """Rows per split, from the run's StatisticsGen output."""
    import tensorflow_data_validation as tfdv

    counts = {}
    for stats_file in pathlib.Path(root, "StatisticsGen").glob("statistics/*/Split-*/FeatureStats.pb"):
        stats = tfdv.load_stats_binary(str(stats_file))
        counts[stats_file.parent.name.removeprefix("Split-")] = stats.datasets[0].num_examples
    return counts


def _run_scale(
    config_path: str, overrides: list[str], sample: pathlib.Path, sample_rows: int, scale: int, out: pathlib.Path
) -> ScaleRun:
    data = _scaled_input(sample, scale, out / "input")
    run_overrides = [
        "input.format=tfrecord",
        f"input.path={data}",
        "input.pattern=span-{SPAN}/*",
        f"pipeline.root={out / 'root'}",
        f"pipeline.metadata_path={out / 'metadata.sqlite'}",
        f"pipeline.log_dir={out / 'logs'}",
        f"pusher.serving_root={out / 'serving'}",
        *DEFAULT_OVERRIDES,
        *overrides,
    ]
    config = config_lib.load_config(config_path, run_overrides)
    command = [sys.executable, "-m", "pipelines.local_runner", "--config", config_path]
    for override in run_overrides:
        command += ["--set", override]
    print(f"\n== {scale}x: {sample_rows * scale} rows", flush=True)
    started = time.monotonic()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    memory = _TreeMemory(child.pid)
    for line in child.stdout:
        print(line, end="", flush=True)
        running = _RUNNING.search(line)
        if running:
            memory.component = running.group(1)
    _, status, _ = os.wait4(child.pid, 0)
    wall = time.monotonic() - started
    peak_mb = memory.stop()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{scale}x: the pipeline failed (exit {os.waitstatus_to_exitcode(status)}); see {out}/logs")
    (name,) = run_summary.names(config.pipeline.log_dir)
    summary = run_summary.read(config.pipeline.log_dir, name)
    splits = _split_rows(config.pipeline.root)
    train_rows = sum(rows for split, rows in splits.items() if split != "eval")
    steps = config.trainer.steps_for(train_rows)
    return ScaleRun(
        scale=scale,
        rows=sum(splits.values()),
        eval_rows=splits.get("eval", 0),
        trained_examples=steps * config.trainer.batch_size,
        seconds={c["component_id"]: c["seconds"] or 0.0 for c in summary["components"]},
        total=wall,
        peak_memory_mb=peak_mb,
        outcome=summary["outcome"],
        component_memory_mb={name: peak / 2**20 for name, peak in memory.component_peaks.items()},
    )


def _rows_read(run: ScaleRun, component: str) -> int | None:
    if component in ALL_ROWS:
        return run.rows
    if component == "Evaluator":
        return run.eval_rows
    if component == "Trainer":
        return run.trained_examples
    return None


def table(runs: list[ScaleRun]) -> str:
    """One markdown table: per component seconds and rows/s, total, peak memory; ratios to the first scale."""
    base = runs[0]
    lines = [
        "| component | " + " | ".join(f"{run.scale}x s (rows/s) | ratio" for run in runs) + " |",
        "|" + " --- |" * (1 + 2 * len(runs)),
    ]
    for component in base.seconds:
        cells = []
        for run in runs:
            seconds = run.seconds.get(component, 0.0)
            rows = _rows_read(run, component)
            rate = f" ({rows / seconds:,.0f})" if rows and seconds else ""
            cells += [f"{seconds:.1f}{rate}", _ratio(seconds, base.seconds[component])]
        lines.append(f"| {component} | " + " | ".join(cells) + " |")
    for label, value, fmt in (
        ("total wall s", lambda r: r.total, "{:.1f}"),
        ("peak memory MB (PSS)", lambda r: r.peak_memory_mb, "{:.0f}"),
        ("rows", lambda r: r.rows, "{:,}"),
        ("trained examples", lambda r: r.trained_examples, "{:,}"),
    ):
        cells = [cell for run in runs for cell in (fmt.format(value(run)), _ratio(value(run), value(base)))]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("| outcome | " + " | ".join(f"{run.outcome} | " for run in runs) + " |")
    return "\n".join(lines)


def memory_table(runs: list[ScaleRun]) -> str:
    """Peak memory (PSS of the process tree, MB) while each component ran, per scale."""
    lines = [
        "| peak MB while running | " + " | ".join(f"{run.scale}x" for run in runs) + " |",
        "|" + " --- |" * (1 + len(runs)),
    ]
    for component in runs[0].component_memory_mb:
        cells = [f"{run.component_memory_mb.get(component, 0.0):,.0f}" for run in runs]
        lines.append(f"| {component} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}" if base else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=local_runner.DEFAULT_CONFIG)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--keep", help="write the runs here and keep them (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        workdir = pathlib.Path(args.keep or temporary)
        config = config_lib.load_config(args.config, args.overrides, check_local_paths=False)
        sample, sample_rows = _sample_span(workdir, config)
        runs = []
        for scale in args.scales:
            runs.append(_run_scale(args.config, args.overrides, sample, sample_rows, scale, workdir / f"x{scale}"))
            print(f"\n{table(runs)}\n\n{memory_table(runs)}", flush=True)
        with open(workdir / "scale.json", "w", encoding="utf-8") as stream:
            json.dump([dataclasses.asdict(run) for run in runs], stream, indent=1)
    print(f"\nPipeline on {', '.join(f'{s}x' for s in args.scales)} the sample, {os.cpu_count()} cores:\n")
    print(table(runs))
    print(f"\n{memory_table(runs)}")


if __name__ == "__main__":
    main()
