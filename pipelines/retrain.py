"""The retraining loop: run the pipeline whenever a new span lands in the input folder.

  python -m pipelines.retrain [--config FILE] [--set KEY=VALUE ...] [--once] [--poll-seconds 300]

Every `--poll-seconds` it looks for the newest span under `input.path`; when
it is newer than the last span done, it runs the pipeline (one run at a time:
a lock on the pipeline root). A run reads the spans up to the one its
ExampleGen resolved; a span that lands mid-run is read by the next run.

A span is done when its run completed (pushed, identical or not blessed) or
stopped at the gate (drift, bad data): the data is what it is, so it is not
retried; fix it by writing a new span. A run that failed otherwise (out of
memory, a storage error, preemption) is retried on later polls, RETRY_SECONDS
after the failure, then twice as long, up to MAX_ATTEMPTS runs; the state
file (`.retrain-state.json` in the pipeline root, on any filesystem) records
the attempts and the last error. A poll that finds another run holding the
pipeline's lock (a manual `make run`) skips itself and the loop goes on.
`--once` checks once and exits, for cron; the exit code is 0 when nothing
was new, the poll was skipped or the run completed, 1 when it stopped or failed.

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
import time
from collections.abc import Callable, Sequence

from common import filesystem, locks
from pipelines import config as config_lib
from pipelines import local_runner, run_summary

__all__ = ["LOOP_LOCK", "MAX_ATTEMPTS", "RETRY_SECONDS", "SKIPPED", "STATE_FILE", "check_once", "latest_span", "main"]

# Beside the pipeline's artifacts: the newest span done, and the attempts at a newer one that failed.
STATE_FILE = ".retrain-state.json"
# In the pipeline root: held by the loop, so that one loop runs per root.
LOOP_LOCK = ".retrain.lock"
# A failed span runs at most this many times, the n-th retry RETRY_SECONDS * 2**(n-1) after the failure.
MAX_ATTEMPTS = 3
RETRY_SECONDS = 300.0
# check_once's outcome when another run held the pipeline's lock.
SKIPPED = "skipped"
_COMPLETED = {run_summary.PUSHED, run_summary.IDENTICAL, run_summary.NOT_BLESSED}
# A span whose run ended so is not run again.
_DONE = _COMPLETED | {run_summary.STOPPED}


def latest_span(input_config: config_lib.InputConfig) -> int | None:
    """The newest span with files in the input folder, or None."""
    from common import spans as spans_lib

    spans = spans_lib.available_spans(input_config.path, input_config.pattern)
    return spans[-1] if spans else None


def _state_path(config: config_lib.PipelineConfig) -> str:
    return os.path.join(config.pipeline.root, STATE_FILE)


def _read_state(config: config_lib.PipelineConfig) -> dict:
    """The loop's state; an unreadable file is named and read as no span done (its span runs again)."""
    path = _state_path(config)
    if not filesystem.exists(path):
        return {}
    try:
        state = json.loads(filesystem.read_text(path))
        if not isinstance(state, dict):
            raise ValueError("not a JSON object")
        return state
    except (OSError, UnicodeDecodeError, ValueError) as error:
        print(f"{config.pipeline.name}: ignoring the unreadable state file {path}: {error}", flush=True)
        return {}


def _write_state(config: config_lib.PipelineConfig, state: dict) -> None:
    stamp = datetime.datetime.now().isoformat(timespec="seconds")
    filesystem.write_text_atomically(_state_path(config), json.dumps({**state, "at": stamp}))


def _newest_summary(log_dir: str, before: set[str]) -> dict:
    """The summary the run just wrote; a failed outcome when it wrote none or it cannot be read."""
    found, unreadable = run_summary.read_all(log_dir)
    new = [summary for name, summary in found if name not in before]
    if new:
        return new[-1]
    reason = f"its summary is unreadable ({unreadable[-1]})" if unreadable else "it wrote no summary"
    return {"outcome": run_summary.FAILED, "spans": [], "reason": reason}


def check_once(
    config: config_lib.PipelineConfig, run: Callable = local_runner.run, now: Callable[[], float] = time.time
) -> str | None:
    """Runs the pipeline if a span newer than the last one done is there and not waiting for a retry.

    Returns:
      None when nothing was to run, SKIPPED when another run held the pipeline's lock, else the
      outcome of the run's summary.
    """
    name = config.pipeline.name
    newest = latest_span(config.input)
    state = _read_state(config)
    done = state.get("last_attempted_span")
    if newest is None or (done is not None and newest <= done):
        print(f"{name}: no new span (newest {newest}, last attempted {done})", flush=True)
        return None
    failed = state.get("failed") if (state.get("failed") or {}).get("span") == newest else None
    attempts = failed["attempts"] if failed else 0
    if failed and now() < failed["retry_at"]:
        wait = failed["retry_at"] - now()
        print(f"{name}: span {newest} failed {attempts} time(s) ({failed['error']}); retry in {wait:.0f}s", flush=True)
        return None
    print(f"{name}: span {newest} is new (last attempted {done}); running the pipeline", flush=True)
    before = set(run_summary.names(config.pipeline.log_dir))
    error = None
    try:
        run(config)
    except locks.LockedError as held:
        print(f"{name}: skipping this poll: {held}", flush=True)
        return SKIPPED
    except Exception as raised:  # noqa: BLE001 - recorded and retried; the run's log has the details
        error = f"{type(raised).__name__}: {raised}"
        print(f"{name}: the run did not complete: {error}", flush=True)
    summary = _newest_summary(config.pipeline.log_dir, before)
    outcome = summary["outcome"]
    if outcome in _DONE:
        _write_state(config, {"last_attempted_span": max(summary.get("spans") or [newest]), "outcome": outcome})
        return outcome
    attempts += 1
    error = error or summary.get("reason") or "the run failed"
    if attempts >= MAX_ATTEMPTS:
        print(f"{name}: span {newest} failed {attempts} times; not retried until a new span lands", flush=True)
        _write_state(config, {"last_attempted_span": newest, "outcome": outcome, "attempts": attempts, "error": error})
        return outcome
    retry_at = now() + RETRY_SECONDS * 2 ** (attempts - 1)
    failed = {"span": newest, "attempts": attempts, "error": error, "retry_at": retry_at}
    _write_state(config, {"last_attempted_span": done, "outcome": state.get("outcome"), "failed": failed})
    return outcome


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
                return 0 if outcome is None or outcome == SKIPPED or outcome in _COMPLETED else 1
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
