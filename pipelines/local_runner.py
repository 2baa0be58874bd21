"""Runs the pipeline on this machine with LocalDagRunner.

  python -m pipelines.local_runner [--config FILE] [--set KEY=VALUE ...] [--verbose]

The TFX CLI runs this file too (it executes it with no arguments):
  tfx pipeline create --engine=local --pipeline_path=pipelines/local_runner.py
  tfx run create --engine=local --pipeline_name=taxi-local
Set PIPELINE_CONFIG to point the CLI at another config file.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from collections.abc import Sequence

from common import locks
from pipelines import config as config_lib
from pipelines import progress, run_summary

__all__ = ["DEFAULT_CONFIG", "RUN_LOCK", "build_pipeline", "main", "run"]

DEFAULT_CONFIG = "pipelines/configs/local.yaml"
_CONFIG_ENV = "PIPELINE_CONFIG"
# In the pipeline root: held by every run, so that two never share a root.
RUN_LOCK = ".run.lock"


def build_pipeline(config: config_lib.PipelineConfig):
    """The pipeline with a SQLite metadata store at the config's metadata_path."""
    # TFX, TensorFlow and Beam load here, not at module import: a config error
    # or --help answers at once, and their import-time noise goes to the log.
    from tfx.orchestration import metadata

    from pipelines import pipeline as pipeline_lib

    os.makedirs(os.path.dirname(os.path.abspath(config.pipeline.metadata_path)), exist_ok=True)
    connection = metadata.sqlite_metadata_connection_config(config.pipeline.metadata_path)
    return pipeline_lib.create_pipeline(config, metadata_connection_config=connection)


def run(config: config_lib.PipelineConfig, verbose: bool = False) -> list[progress.ComponentTiming]:
    """Runs the pipeline, printing progress and a summary; returns each component's timing.

    The summary (what ran, the model against its threshold, what is served)
    is also written as JSON beside the run's log: `<log_dir>/run-<stamp>.summary.json`.
    Only one run at a time uses a pipeline root: a second one fails at once.

    Args:
      config: The validated config.
      verbose: Keep TFX, Beam and TensorFlow logs on the console instead of the log file.

    Raises:
      locks.LockedError: If another run holds the pipeline root.
      Exception: Whatever the failing component raised, e.g. DataValidationError.
    """
    with locks.holding(config.pipeline.root, RUN_LOCK, f"a run of {config.pipeline.name}"):
        return _run(config, verbose)


def _run(config: config_lib.PipelineConfig, verbose: bool) -> list[progress.ComponentTiming]:
    now = datetime.datetime.now()
    stamp = now.strftime("%Y%m%d-%H%M%S")
    log_path = None if verbose else os.path.join(config.pipeline.log_dir, f"run-{stamp}.log")
    handler = progress.ProgressHandler(sys.stdout)
    print(f"Pipeline {config.pipeline.name}: root {config.pipeline.root}")
    if log_path:
        print(f"Full logs: {log_path}")
    started = time.monotonic()
    after_id = run_summary.latest_execution_id(config.pipeline.metadata_path)
    error = None
    try:
        with progress.report_progress(handler, log_path):
            from tfx.orchestration.local.local_dag_runner import LocalDagRunner

            pipeline = build_pipeline(config)
            handler.num_components = len(pipeline.components)
            LocalDagRunner().run(pipeline)
    except BaseException as raised:
        handler.report_failure()
        error = raised
        raise
    finally:
        _report(config, handler.timings, now, time.monotonic() - started, after_id, error, stamp)
    return handler.timings


def _report(config, timings, now, seconds, after_id, error, stamp) -> None:
    """Prints the run summary and writes it as JSON; a failure here never hides the run's own error."""
    try:
        summary = run_summary.collect(config, timings, now.isoformat(timespec="seconds"), seconds, after_id, error)
    except Exception as failure:  # noqa: BLE001 - the summary is a report, the run's outcome stands
        print(f"(no run summary: {type(failure).__name__}: {failure})", file=sys.stderr)
        return
    print("\n".join(["", *summary.lines()]))
    run_summary.write(summary, run_summary.path_for(config.pipeline.log_dir, f"run-{stamp}"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the pipeline locally with LocalDagRunner.")
    parser.add_argument(
        "--config",
        default=os.environ.get(_CONFIG_ENV, DEFAULT_CONFIG),
        help=f"pipeline config YAML (default: ${_CONFIG_ENV} or {DEFAULT_CONFIG})",
    )
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a config key"
    )
    parser.add_argument("--verbose", action="store_true", help="show TFX/Beam logs instead of writing them to a file")
    args = parser.parse_args(argv)
    try:
        config = config_lib.load_config(args.config, args.overrides)
    except config_lib.ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        run(config, verbose=args.verbose)
    except Exception as error:  # noqa: BLE001 - the adapter turns any failure into a message and an exit code
        print(f"\nerror: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
