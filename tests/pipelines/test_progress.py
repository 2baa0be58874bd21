"""Unit tests of progress reporting from TFX's log records."""

from __future__ import annotations

import io
import logging
import os
import sys

from absl import logging as absl_logging

from pipelines import progress


class _Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _record(msg: str, *args) -> logging.LogRecord:
    return logging.LogRecord("absl", logging.INFO, __file__, 1, msg, args, None)


def test_lines_for_run_cached_and_done():
    stream, clock = io.StringIO(), _Clock()
    handler = progress.ProgressHandler(stream, num_components=2, clock=clock)
    handler.emit(_record("Component %s is running.", "ExampleGen"))
    clock.now += 7.25
    handler.emit(_record("Component %s is finished.", "ExampleGen"))
    handler.emit(_record("Component %s is running.", "StatisticsGen"))
    handler.emit(_record("A cached execution %d is used.", 4))
    handler.emit(_record("Component %s is finished.", "StatisticsGen"))
    assert stream.getvalue().splitlines() == [
        "[1/2] ExampleGen running ...",
        "[1/2] ExampleGen done in 7.2s",
        "[2/2] StatisticsGen running ...",
        "[2/2] StatisticsGen cached",
    ]
    assert [(t.component_id, t.seconds, t.cached) for t in handler.timings] == [
        ("ExampleGen", 7.25, False),
        ("StatisticsGen", 0.0, True),
    ]


def test_failure_marks_the_running_component():
    stream, clock = io.StringIO(), _Clock()
    handler = progress.ProgressHandler(stream, num_components=5, clock=clock)
    handler.emit(_record("Component %s is running.", "ValidationGate"))
    clock.now += 1.0
    handler.report_failure()
    assert stream.getvalue().splitlines()[-1] == "[1/5] ValidationGate FAILED after 1.0s"
    handler.report_failure()  # nothing running any more: no second line
    assert len(stream.getvalue().splitlines()) == 2


def test_other_records_are_ignored():
    stream = io.StringIO()
    handler = progress.ProgressHandler(stream)
    handler.emit(_record("A cached execution %d is used.", 1))
    handler.emit(_record("Something else %s", "x"))
    assert stream.getvalue() == "" and handler.timings == []


def test_report_progress_moves_logs_and_stderr_to_the_file(tmp_path):
    stream = io.StringIO()
    handler = progress.ProgressHandler(stream, num_components=1)
    log_path = tmp_path / "logs" / "run.log"
    root_handlers = logging.getLogger().handlers[:]
    with progress.report_progress(handler, str(log_path)):
        absl_logging.info("Component %s is running.", "Gen")
        absl_logging.info("a detail for the log file")
        os.write(2, b"native stderr output\n")
        print("python stderr output", file=sys.stderr)
        absl_logging.info("Component %s is finished.", "Gen")
    text = log_path.read_text()
    assert "a detail for the log file" in text
    assert "native stderr output" in text and "python stderr output" in text
    assert stream.getvalue().splitlines()[0] == "[1/1] Gen running ..."
    assert logging.getLogger().handlers == root_handlers


def test_report_progress_without_file_keeps_console_logging():
    stream = io.StringIO()
    handler = progress.ProgressHandler(stream, num_components=1)
    with progress.report_progress(handler, None):
        absl_logging.info("Component %s is running.", "Gen")
    assert stream.getvalue() == "[1/1] Gen running ...\n"
    assert handler not in logging.getLogger().handlers
