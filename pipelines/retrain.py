"""The retraining loop: run the pipeline whenever a new span lands in the input folder.

  python -m pipelines.retrain [--config FILE] [--set KEY=VALUE ...] [--once] [--poll-seconds 300]

Every `--poll-seconds` it looks for the newest span under `input.path`; when
it is newer than the last span a run attempted, it runs the pipeline (one run
at a time: a lock on the pipeline root). A run reads the spans up to the one
its ExampleGen resolved; a span that lands mid-run is read by the next run. A
span that stopped at the gate (drift, bad data) is not retried: fix it by
writing a new span. `--once` checks once and exits, for cron; the exit code is
0 when nothing was new or the run completed (pushed, identical or not
blessed), 1 when it stopped or failed.

Only one loop runs per pipeline root: a second one exits at once, naming the first.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence

from common import locks
from pipelines import config as config_lib
from pipelines import local_runner, run_summary

__all__ = ["LOOP_LOCK", "STATE_FILE", "check_once", "latest_span", "main"]

# Beside the pipeline's artifacts: the newest span a run of this loop attempted.
STATE_FILE = ".retrain-state.json"
# In the pipeline root: held by the loop, so that one loop runs per root.
LOOP_LOCK = ".retrain.lock"
_COMPLETED = {run_summary.PUSHED, run_summary.IDENTICAL, run_summary.NOT_BLESSED}


def latest_span(input_config: config_lib.InputConfig) -> int | None:
    """The newest span with files in the input folder, or None."""
    from common import spans as spans_lib

    spans = spans_lib.available_spans(input_config.path, input_config.pattern)
    return spans[-1] if spans else None


def _state_path(config: config_lib.PipelineConfig) -> str:
    return os.path.join(config.pipeline.root, STATE_FILE)


def _last_attempted(config: config_lib.PipelineConfig) -> int | None:
    try:
        with open(_state_path(config), encoding="utf-8") as stream:
            return json.load(stream)["last_attempted_span"]
    except (FileNotFoundError, KeyError, ValueError):
        return None


def _record_attempt(config: config_lib.PipelineConfig, span: int, outcome: str) -> None:
    record = {
        "last_attempted_span": span,
        "outcome": outcome,
        "at": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    path = _state_path(config)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    staging = f"{path}.tmp"
    with open(staging, "w", encoding="utf-8") as stream:
        json.dump(record, stream)
    os.replace(staging, path)


def check_once(config: config_lib.PipelineConfig, run: Callable = local_runner.run) -> str | None:
    """Runs the pipeline if a span newer than the last attempted one is there; returns the run's outcome.

    Returns:
      None when nothing was new, else the outcome of the run's summary.
    """
    newest = latest_span(config.input)
    last = _last_attempted(config)
    if newest is None or (last is not None and newest <= last):
        print(f"{config.pipeline.name}: no new span (newest {newest}, last attempted {last})", flush=True)
        return None
    print(f"{config.pipeline.name}: span {newest} is new (last attempted {last}); running the pipeline", flush=True)
    log_dir = config.pipeline.log_dir
    before = set(run_summary.names(log_dir))
    try:
        run(config)
    except locks.LockedError:
        raise
    except Exception as error:  # noqa: BLE001 - the run's summary has the details; the loop goes on
        print(f"{config.pipeline.name}: the run did not complete: {type(error).__name__}: {error}", flush=True)
    new = [name for name in run_summary.names(log_dir) if name not in before]
    summary = run_summary.read(log_dir, new[-1]) if new else {"outcome": run_summary.FAILED, "spans": []}
    read = summary.get("spans") or [newest]
    _record_attempt(config, max(read), summary["outcome"])
    return summary["outcome"]


def _loop(config: config_lib.PipelineConfig, poll_seconds: float, stop: threading.Event) -> None:
    while not stop.is_set():
        check_once(config)
        stop.wait(poll_seconds)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=os.environ.get("PIPELINE_CONFIG", local_runner.DEFAULT_CONFIG))
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--once", action="store_true", help="check once, run if a span is new, and exit")
    parser.add_argument("--poll-seconds", type=float, default=300.0, help="seconds between checks (default 300)")
    args = parser.parse_args(argv)
    try:
        config = config_lib.load_config(args.config, args.overrides)
        if not config.input.has_spans:
            raise config_lib.ConfigError(
                f"{args.config}: input.pattern {config.input.pattern!r} has no {{SPAN}}: the loop retrains when a "
                "new span lands, e.g. 'span-{SPAN}/*'"
            )
        with locks.holding(config.pipeline.root, LOOP_LOCK, f"a retraining loop of {config.pipeline.name}"):
            if args.once:
                outcome = check_once(config)
                return 0 if outcome is None or outcome in _COMPLETED else 1
            stop = threading.Event()
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
            _loop(config, args.poll_seconds, stop)
            return 0
    except config_lib.ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except locks.LockedError as error:
        print(f"error: {error}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
