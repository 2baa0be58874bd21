"""Benchmark: Beam DirectRunner in one process vs multi-processing on all cores.

Runs the pipeline (caching off, fresh roots) once per mode in this process on
the configured data, prints each Beam component's wall time and the ratio of
multi-processing to in-memory. The faster mode is the default in local.yaml.

  python -m benchmarks.beam_modes [--config FILE] [--set KEY=VALUE ...] [--repeats N]
"""

from __future__ import annotations

import argparse
import os
import tempfile

from pipelines import config as config_lib
from pipelines import local_runner

MODES = {
    "in_memory": ["--direct_running_mode=in_memory", "--direct_num_workers=1"],
    "multi_processing": ["--direct_running_mode=multi_processing", "--direct_num_workers=0"],
}
# Components whose work is a Beam pipeline; the rest do not depend on the runner.
BEAM_COMPONENTS = ("ExampleGen", "StatisticsGen")


def _time_mode(config_path: str, overrides: list[str], beam_args: list[str], workdir: str) -> dict[str, float]:
    config = config_lib.load_config(
        config_path,
        [
            *overrides,
            f"pipeline.root={workdir}/root",
            f"pipeline.metadata_path={workdir}/metadata.sqlite",
            f"pipeline.log_dir={workdir}/logs",
            "pipeline.enable_cache=false",
            f"beam.args={beam_args}",
        ],
    )
    timings = local_runner.run(config)
    return {timing.component_id: timing.seconds for timing in timings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=local_runner.DEFAULT_CONFIG)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory() as workdir:
        # Alternate modes so that warm-up and machine noise hit both alike.
        for repeat in range(args.repeats):
            for mode, beam_args in MODES.items():
                run_dir = os.path.join(workdir, f"{mode}-{repeat}")
                results[mode].append(_time_mode(args.config, args.overrides, beam_args, run_dir))
    print(f"\nBeam components, best of {args.repeats} runs, {os.cpu_count()} cores (ratio above 1: in_memory faster):")
    best = {mode: {c: min(run[c] for run in runs) for c in BEAM_COMPONENTS} for mode, runs in results.items()}
    for component in BEAM_COMPONENTS:
        print(_row(component, best["in_memory"][component], best["multi_processing"][component]))
    print(_row("total", sum(best["in_memory"].values()), sum(best["multi_processing"].values())))


def _row(name: str, in_memory: float, multi: float) -> str:
    return f"  {name:14s} in_memory {in_memory:6.1f}s  multi_processing {multi:6.1f}s  ratio {multi / in_memory:.2f}"


if __name__ == "__main__":
    main()
