"""Readable progress for local runs: which component runs, how long each took.

TFX's LocalDagRunner announces each component through absl log records; a
logging handler turns those into one line per start and finish, while the
verbose logs (TFX, Beam, TensorFlow, warnings) go to a file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import TextIO

__all__ = ["ComponentTiming", "ProgressHandler", "report_progress"]

# Message formats of tfx.orchestration.local.local_dag_runner and portable.launcher (TFX 1.16).
_RUNNING = "Component %s is running."
_FINISHED = "Component %s is finished."
_CACHED = "A cached execution %d is used."


@dataclasses.dataclass
class ComponentTiming:
    """How one component's run went."""

    component_id: str
    started: float
    seconds: float | None = None
    cached: bool = False
    failed: bool = False

    @property
    def status(self) -> str:
        """ran, cached, failed, or running."""
        if self.failed:
            return "failed"
        if self.seconds is None:
            return "running"
        return "cached" if self.cached else "ran"


class ProgressHandler(logging.Handler):
    """Prints a line when a component starts and when it finishes, with its wall time."""

    def __init__(self, stream: TextIO, num_components: int = 0, clock: Callable[[], float] = time.monotonic):
        super().__init__(level=logging.INFO)
        self.timings: list[ComponentTiming] = []
        # Set once the pipeline is built; shown as the denominator of [i/n].
        self.num_components = num_components
        self._stream = stream
        self._clock = clock

    @property
    def current(self) -> ComponentTiming | None:
        """The component that started last and has not finished, if any."""
        if self.timings and self.timings[-1].seconds is None:
            return self.timings[-1]
        return None

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == _RUNNING:
            self.timings.append(ComponentTiming(str(record.args[0]), self._clock()))
            self._print(f"{self._position()} {self.timings[-1].component_id} running ...")
        elif record.msg == _CACHED and self.current:
            self.current.cached = True
        elif record.msg == _FINISHED and self.current:
            timing = self.current
            timing.seconds = self._clock() - timing.started
            outcome = "cached" if timing.cached else f"done in {timing.seconds:.1f}s"
            self._print(f"{self._position()} {timing.component_id} {outcome}")

    def report_failure(self) -> None:
        """Marks the running component, if any, as failed."""
        timing = self.current
        if timing:
            timing.seconds = self._clock() - timing.started
            timing.failed = True
            self._print(f"{self._position()} {timing.component_id} FAILED after {timing.seconds:.1f}s")

    def _position(self) -> str:
        return f"[{len(self.timings)}/{self.num_components}]"

    def _print(self, line: str) -> None:
        print(line, file=self._stream, flush=True)


@contextlib.contextmanager
def report_progress(handler: logging.Handler, log_path: str | None = None) -> Iterator[None]:
    """Feeds every log record to `handler`; with `log_path`, also moves the noise to that file.

    With a log file, Python logging, warnings and everything written to the
    process's stderr (file descriptor 2, so native TensorFlow and Beam output
    too) go to the file, and the console keeps only what `handler` prints.
    """
    from absl import logging as absl_logging

    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_verbosity = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.INFO)
    root.setLevel(logging.INFO)
    try:
        if log_path is None:
            root.addHandler(handler)
            yield
        else:
            with _redirect_to_file(log_path, root, handler):
                yield
    finally:
        absl_logging.set_verbosity(saved_verbosity)
        root.handlers, root.level = saved_handlers, saved_level


@contextlib.contextmanager
def _redirect_to_file(log_path: str, root: logging.Logger, handler: logging.Handler) -> Iterator[None]:
    os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
    sys.stderr.flush()
    saved_stderr_fd = os.dup(2)
    with open(log_path, "a", encoding="utf-8") as log_file:
        file_handler = logging.StreamHandler(log_file)
        file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        os.dup2(log_file.fileno(), 2)
        root.handlers = [file_handler, handler]
        logging.captureWarnings(True)
        try:
            # sys.stderr too: it is not fd 2 when something (such as pytest) replaced it.
            with contextlib.redirect_stderr(log_file):
                yield
        finally:
            logging.captureWarnings(False)
            sys.stderr.flush()
            os.dup2(saved_stderr_fd, 2)
            os.close(saved_stderr_fd)
