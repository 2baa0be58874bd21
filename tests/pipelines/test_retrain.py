"""The retraining loop's decisions, its locks, and status and rollback over a serving root."""

from __future__ import annotations

import json
import os
import pathlib

import pytest

from common import locks
from pipelines import local_runner, retrain, run_summary, status
from tests.components.test_pusher import saved_model
from tests.conftest import build_config


def _span(folder: pathlib.Path, span: int) -> None:
    (folder / "tfrecord" / f"span-{span}").mkdir(parents=True, exist_ok=True)
    (folder / "tfrecord" / f"span-{span}" / "part.gz").write_bytes(b"")


@pytest.fixture
def config(tmp_path):
    _span(tmp_path / "in", 1)
    return build_config(tmp_path / "in", tmp_path / "out", check_local_paths=False)


class _Runs:
    """Stands in for local_runner.run: records each call and writes a summary like a real run's."""

    def __init__(self, outcome: str = run_summary.PUSHED):
        self.calls, self.outcome = [], outcome

    def __call__(self, config):
        spans = [retrain.latest_span(config.input)]
        self.calls.append(spans)
        os.makedirs(config.pipeline.log_dir, exist_ok=True)
        path = os.path.join(config.pipeline.log_dir, f"run-{len(self.calls):04d}.summary.json")
        pathlib.Path(path).write_text(json.dumps({"outcome": self.outcome, "spans": spans}))


def test_a_new_span_runs_the_pipeline_once_and_an_old_one_does_not(config, tmp_path):
    runs = _Runs()
    assert retrain.check_once(config, run=runs) == run_summary.PUSHED
    assert retrain.check_once(config, run=runs) is None, "nothing new"
    _span(tmp_path / "in", 2)
    assert retrain.check_once(config, run=runs) == run_summary.PUSHED
    assert runs.calls == [[1], [2]]


def test_a_span_that_stopped_the_run_is_not_retried(config, tmp_path):
    runs = _Runs(outcome=run_summary.STOPPED)
    assert retrain.check_once(config, run=runs) == run_summary.STOPPED
    assert retrain.check_once(config, run=runs) is None and len(runs.calls) == 1
    state = json.loads((pathlib.Path(config.pipeline.root) / retrain.STATE_FILE).read_text())
    assert state["last_attempted_span"] == 1 and state["outcome"] == "stopped"


def test_a_second_loop_on_the_same_root_exits_naming_the_first(config, tmp_path, capsys):
    arguments = ["--config", str(tmp_path / "config.yaml"), "--once"]
    (tmp_path / "config.yaml").write_text(json.dumps(config.model_dump(mode="json")))
    with locks.holding(config.pipeline.root, retrain.LOOP_LOCK, "a retraining loop of taxi-local"):
        assert retrain.main(arguments) == 3
    error = capsys.readouterr().err
    assert f"a retraining loop of taxi-local (pid {os.getpid()}, since " in error
    assert f"holds {os.path.join(config.pipeline.root, retrain.LOOP_LOCK)}" in error


def test_a_run_lock_refuses_a_second_run_and_frees_itself(tmp_path):
    with locks.holding(str(tmp_path), local_runner.RUN_LOCK, "a run of p"):
        with pytest.raises(locks.LockedError, match=r"a run of p \(pid \d+, since .*\) holds .*\.run\.lock"):
            with locks.holding(str(tmp_path), local_runner.RUN_LOCK, "another run"):
                pass
    with locks.holding(str(tmp_path), local_runner.RUN_LOCK, "a later run"):
        pass  # released when the first holder left


def test_the_loop_needs_spans(config, tmp_path, capsys):
    (tmp_path / "in" / "tfrecord" / "flat.gz").write_bytes(b"")
    (tmp_path / "config.yaml").write_text(json.dumps(config.model_dump(mode="json")))
    code = retrain.main(["--config", str(tmp_path / "config.yaml"), "--set", "input.pattern=*.gz", "--once"])
    assert code == 2 and "has no {SPAN}" in capsys.readouterr().err


# --- status and rollback ----------------------------------------------------------------------------


def _pushed(config, version: str, spans, auc: float, run: str, outcome: str = run_summary.PUSHED) -> None:
    os.makedirs(config.pipeline.log_dir, exist_ok=True)
    summary = {
        "pipeline": config.pipeline.name,
        "started": f"2026-11-2{run[-1]}T03:00:00",
        "seconds": 60.0,
        "outcome": outcome,
        "spans": spans,
        "pushed_version": version if outcome == run_summary.PUSHED else None,
        "serving_version": version,
        "metric": {"name": "auc", "value": auc},
        "stopped_by": "ValidationGate" if outcome == run_summary.STOPPED else None,
        "reason": "Data validation failed on payment_type (drift: L-infinity distance)"
        if outcome == "stopped"
        else None,
    }
    pathlib.Path(config.pipeline.log_dir, f"{run}.summary.json").write_text(json.dumps(summary))


def test_status_lists_versions_with_their_data_and_the_runs_that_pushed_nothing(config, tmp_path):
    root = pathlib.Path(config.pusher.serving_root)
    for version in ("100", "200"):
        saved_model(root / version, float(version))
    _pushed(config, "100", [1], 0.951, "run-1")
    _pushed(config, "200", [2, 1], 0.953, "run-2")
    _pushed(config, "200", [3, 2], 0.0, "run-3", outcome=run_summary.STOPPED)
    lines = status._format(config, status.history(config), runs=5)
    assert lines[1] == "* 200  pushed 2026-11-22T03:00:00 by run-2: spans 2, 1; auc 0.9530"
    assert lines[2] == "  100  pushed 2026-11-21T03:00:00 by run-1: spans 1; auc 0.9510"
    assert lines[-1] == (
        "  2026-11-23T03:00:00 run-3 (spans 3, 2): stopped at ValidationGate: Data validation failed on "
        "payment_type (drift: L-infinity distance); serving stays at version 200"
    )


def test_rollback_serves_an_earlier_version_again_without_deleting_anything(config):
    root = pathlib.Path(config.pusher.serving_root)
    saved_model(root / "100", 1.0)
    saved_model(root / "200", 2.0)
    served = status.rollback(config, "100")
    assert int(served) > 200
    assert sorted((name for name in os.listdir(root) if name.isdigit()), key=int) == ["100", "200", served]
    from tests.components.test_pusher import _served_value

    assert _served_value(root / served) == 1.0
    assert status.rollback(config, "100") == served, "rolling back to what is served does nothing"
    found = status.history(config)
    assert found.versions[0][0] == served and found.versions[0][1]["source_version"] == "100"
    with pytest.raises(ValueError, match=r"no version '7' under .*; versions: 100, 200, "):
        status.rollback(config, "7")


# --- faults: a failed run is retried, a held lock skips the poll, a bad summary is named --------------


class _Failing(_Runs):
    """Raises like an out-of-memory or a storage error for the first `failures` calls, then runs."""

    def __init__(self, failures: int):
        super().__init__()
        self.failures = failures

    def __call__(self, config):
        if len(self.calls) < self.failures:
            self.calls.append("raised")
            raise MemoryError("the Trainer ran out of memory")
        super().__call__(config)


class _Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _state(config) -> dict:
    return json.loads((pathlib.Path(config.pipeline.root) / retrain.STATE_FILE).read_text())


def test_a_run_that_raises_is_retried_after_a_backoff_and_then_succeeds(config):
    runs, clock = _Failing(failures=1), _Clock()
    assert retrain.check_once(config, run=runs, now=clock) == run_summary.FAILED
    failed = _state(config)["failed"]
    assert failed["span"] == 1 and failed["attempts"] == 1 and "MemoryError: the Trainer ran out" in failed["error"]
    assert _state(config)["last_attempted_span"] is None, "a failure does not mark the span done"
    clock.now += retrain.RETRY_SECONDS - 1
    assert retrain.check_once(config, run=runs, now=clock) is None and len(runs.calls) == 1, "still waiting"
    clock.now += 1
    assert retrain.check_once(config, run=runs, now=clock) == run_summary.PUSHED
    assert runs.calls == ["raised", [1]] and _state(config)["last_attempted_span"] == 1
    assert "failed" not in _state(config)


def test_a_span_that_keeps_failing_is_given_up_after_the_last_attempt(config, capsys):
    runs, clock = _Failing(failures=retrain.MAX_ATTEMPTS), _Clock()
    for attempt in range(retrain.MAX_ATTEMPTS):
        assert retrain.check_once(config, run=runs, now=clock) == run_summary.FAILED
        clock.now += retrain.RETRY_SECONDS * 2**attempt
    assert len(runs.calls) == retrain.MAX_ATTEMPTS
    assert retrain.check_once(config, run=runs, now=clock) is None, "given up until a new span lands"
    state = _state(config)
    assert state["last_attempted_span"] == 1 and state["attempts"] == retrain.MAX_ATTEMPTS
    assert f"span 1 failed {retrain.MAX_ATTEMPTS} times" in capsys.readouterr().out


def test_a_run_holding_the_pipeline_lock_skips_the_poll_and_leaves_the_span_to_the_next(config, tmp_path):
    runs = _Runs()
    with locks.holding(config.pipeline.root, local_runner.RUN_LOCK, "a manual make run"):
        assert retrain.check_once(config) == retrain.SKIPPED, "the real runner meets the held lock"
    assert not (pathlib.Path(config.pipeline.root) / retrain.STATE_FILE).exists()
    assert retrain.check_once(config, run=runs) == run_summary.PUSHED and runs.calls == [[1]]
    (tmp_path / "config.yaml").write_text(json.dumps(config.model_dump(mode="json")))
    _span(tmp_path / "in", 2)
    with locks.holding(config.pipeline.root, local_runner.RUN_LOCK, "a manual make run"):
        assert retrain.main(["--config", str(tmp_path / "config.yaml"), "--once"]) == 0, "a skipped poll is no error"


def test_an_unreadable_summary_is_named_and_skipped_by_status_and_the_loop(config):
    log_dir = pathlib.Path(config.pipeline.log_dir)
    log_dir.mkdir(parents=True)
    (log_dir / "run-0000a.summary.json").write_text('{"outcome": "pushed", "spans": [')  # cut short
    (log_dir / "run-0000b.summary.json").write_bytes(b"\xff\xfe not text")
    lines = status._format(config, status.history(config), runs=5)
    assert lines[-3] == "Run summaries that cannot be read, left out (2):"
    assert lines[-2].startswith(f"  {log_dir / 'run-0000a.summary.json'}: ")
    runs = _Runs()
    assert retrain.check_once(config, run=runs) == run_summary.PUSHED and runs.calls == [[1]]


def test_the_loop_state_lives_in_the_pipeline_root_on_any_filesystem(config, tmp_path, monkeypatch):
    """TensorFlow's in-memory filesystem (ram://) stands in for gs://: nothing lands in a local 'ram:' folder."""
    import tensorflow as tf

    monkeypatch.chdir(tmp_path)
    remote = config.model_copy(update={"pipeline": config.pipeline.model_copy(update={"root": "ram://bucket/root"})})
    assert retrain.check_once(remote, run=_Runs()) == run_summary.PUSHED
    with tf.io.gfile.GFile(f"ram://bucket/root/{retrain.STATE_FILE}") as stream:
        assert json.loads(stream.read())["last_attempted_span"] == 1
    assert not (tmp_path / "ram:").exists()
    assert retrain.check_once(remote, run=_Runs()) is None, "read back from there"
