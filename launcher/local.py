"""Local backend: N worker processes on this machine, supervised as one group.

MultiWorkerMirroredStrategy needs every worker, so when one dies the group is
stopped and restarted (up to a limit); training resumes from the latest
checkpoint. Each worker's output is streamed line by line with its name.
"""

from __future__ import annotations

import collections
import ctypes
import dataclasses
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from launcher import cluster
from launcher.spec import WorkerSpec

__all__ = [
    "PARENT_PID_ENV",
    "GroupOutcome",
    "LocalWorkerGroup",
    "WorkerFailedError",
    "WorkerTimeoutError",
    "die_with_parent",
    "run_local",
    "run_with_restarts",
]

_TAIL_LINES = 20
_STOP_GRACE_SECONDS = 5.0
# A line of worker output: (worker name, line).
LineSink = Callable[[str, str], None]


def _print_line(name: str, line: str) -> None:
    """The default sink: prints the line with its worker's name."""
    print(f"[{name}] {line}", flush=True)


class WorkerFailedError(RuntimeError):
    """A worker kept failing; the message names it and quotes its last lines."""


class WorkerTimeoutError(RuntimeError):
    """The group did not finish within its time limit."""


@dataclasses.dataclass
class _Worker:
    name: str
    process: subprocess.Popen
    tail: collections.deque
    reader: threading.Thread


@dataclasses.dataclass(frozen=True)
class GroupOutcome:
    """How a group run ended: all succeeded, or which worker failed first."""

    failed_worker: str | None = None
    exit_code: int | None = None
    last_lines: tuple[str, ...] = ()

    @property
    def succeeded(self) -> bool:
        return self.failed_worker is None


# Set for every local worker: the launcher's pid, which the worker ties its life to (die_with_parent).
PARENT_PID_ENV = "LAUNCHER_PARENT_PID"


def die_with_parent(environ: Mapping[str, str] = os.environ) -> None:
    """Called by a worker first thing: get SIGKILL when the launching process dies, so none is orphaned.

    Set in the worker itself rather than in a `preexec_fn`, which Python warns
    can deadlock in a threaded parent (TensorFlow and Beam are). If the
    launcher died before this call, the worker exits at once. The kernel
    signals when the launcher's thread that started the worker ends, so groups
    are started and waited for on one thread. Linux only; a no-op elsewhere
    and outside a local launch.
    """
    expected = environ.get(PARENT_PID_ENV)
    if not expected or not sys.platform.startswith("linux"):
        return
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != int(expected):
        os._exit(1)  # the launcher is already gone


class LocalWorkerGroup:
    """Starts worker processes, streams their output, and stops them together."""

    def __init__(
        self,
        commands: Sequence[Sequence[str]],
        envs: Sequence[Mapping[str, str]],
        names: Sequence[str],
        sink: LineSink | None = None,
    ):
        if not len(commands) == len(envs) == len(names):
            raise ValueError("commands, envs and names must have one entry per worker")
        self._commands, self._envs, self._names = commands, envs, names
        self._sink = sink or _print_line
        self.workers: list[_Worker] = []

    def start(self) -> None:
        for command, env, name in zip(self._commands, self._envs, self._names, strict=True):
            process = subprocess.Popen(
                list(command),
                env={**os.environ, **env, "PYTHONUNBUFFERED": "1", PARENT_PID_ENV: str(os.getpid())},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
            tail: collections.deque = collections.deque(maxlen=_TAIL_LINES)
            reader = threading.Thread(target=self._stream, args=(name, process, tail), daemon=True)
            reader.start()
            self.workers.append(_Worker(name, process, tail, reader))

    def _stream(self, name: str, process: subprocess.Popen, tail: collections.deque) -> None:
        for line in process.stdout:
            line = line.rstrip("\n")
            tail.append(line)
            self._sink(name, line)

    def wait(self, timeout_seconds: float) -> GroupOutcome:
        """Waits until all workers exit 0, or one fails (then stops the others).

        Raises:
          WorkerTimeoutError: When the time runs out; the group is stopped first.
        """
        deadline = time.monotonic() + timeout_seconds
        while True:
            codes = [worker.process.poll() for worker in self.workers]
            failed = next((w for w, code in zip(self.workers, codes, strict=True) if code not in (None, 0)), None)
            if failed:
                self.stop()
                failed.reader.join(timeout=5)
                return GroupOutcome(failed.name, failed.process.returncode, tuple(failed.tail))
            if all(code == 0 for code in codes):
                for worker in self.workers:
                    worker.reader.join(timeout=5)
                return GroupOutcome()
            if time.monotonic() > deadline:
                running = [w.name for w, code in zip(self.workers, codes, strict=True) if code is None]
                self.stop()
                raise WorkerTimeoutError(f"workers {running} still running after {timeout_seconds:.0f}s; stopped")
            time.sleep(0.2)

    def stop(self) -> None:
        """Terminates every worker still running (its whole process group), then kills stragglers."""
        for worker in self.workers:
            if worker.process.poll() is None:
                _signal_group(worker.process, signal.SIGTERM)
        deadline = time.monotonic() + _STOP_GRACE_SECONDS
        for worker in self.workers:
            try:
                worker.process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                _signal_group(worker.process, signal.SIGKILL)
                worker.process.wait()


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def run_with_restarts(
    make_group: Callable[[int], LocalWorkerGroup],
    max_restarts: int,
    timeout_seconds: float,
    on_restart: Callable[[GroupOutcome, int], None] | None = None,
    on_start: Callable[[LocalWorkerGroup], None] | None = None,
) -> int:
    """Runs fresh groups until one succeeds; returns the number of restarts used.

    Raises:
      WorkerFailedError: When the group failed `max_restarts + 1` times.
      WorkerTimeoutError: When a group exceeds the time left.
    """
    deadline = time.monotonic() + timeout_seconds
    for attempt in range(max_restarts + 1):
        group = make_group(attempt)
        try:
            group.start()
            if on_start:
                on_start(group)
            outcome = group.wait(max(deadline - time.monotonic(), 1.0))
        finally:
            group.stop()  # every exit path, an interrupt or an error in this process included
        if outcome.succeeded:
            return attempt
        if attempt < max_restarts and on_restart:
            on_restart(outcome, attempt + 1)
    last_lines = "\n".join(f"    {line}" for line in outcome.last_lines)
    raise WorkerFailedError(
        f"{outcome.failed_worker} failed with exit code {outcome.exit_code} "
        f"({max_restarts + 1} attempts, {max_restarts} restarts); its last lines:\n{last_lines}"
    )


def run_local(
    spec: WorkerSpec,
    num_workers: int,
    max_restarts: int,
    timeout_seconds: float,
    sink: LineSink | None = None,
    on_start: Callable[[LocalWorkerGroup], None] | None = None,
) -> int:
    """Runs `spec` on `num_workers` local processes; returns the restarts used.

    Training workers get a TF_CONFIG on fresh loopback ports each attempt.
    Tuning runs a chief oracle plus `num_workers` tuners and is not restarted.

    Args:
      spec: What each worker runs.
      num_workers: Training workers, or tuner processes besides the chief.
      max_restarts: Group restarts allowed after a failure (training only).
      timeout_seconds: Wall-time limit of the whole launch.
      sink: Receives each output line with its worker's name.
      on_start: Called with each group once started (tests use it to kill a worker).
    """
    with tempfile.TemporaryDirectory(prefix="launcher-") as workdir:
        spec_file = os.path.join(workdir, "spec.json")
        with open(spec_file, "w", encoding="utf-8") as stream:
            stream.write(spec.to_json())
        command = [sys.executable, "-m", "launcher.worker", "--spec", spec_file]

        def make_group(attempt: int) -> LocalWorkerGroup:
            if spec.kind == "train":
                hosts = [f"127.0.0.1:{port}" for port in cluster.free_loopback_ports(num_workers)]
                envs = [{"TF_CONFIG": cluster.tf_config(hosts, index)} for index in range(num_workers)]
                names = cluster.worker_names(num_workers)
            else:
                (port,) = cluster.free_loopback_ports(1)
                envs = [cluster.keras_tuner_env("127.0.0.1", port, index) for index in range(num_workers + 1)]
                names = ["chief", *cluster.worker_names(num_workers, "tuner")]
            return LocalWorkerGroup([command] * len(envs), envs, names, sink)

        def log_restart(outcome: GroupOutcome, attempt: int) -> None:
            (sink or _print_line)(
                "launcher",
                f"{outcome.failed_worker} exited with {outcome.exit_code}; restarting all workers "
                f"(restart {attempt} of {max_restarts})",
            )

        restarts = max_restarts if spec.kind == "train" else 0
        return run_with_restarts(make_group, restarts, timeout_seconds, log_restart, on_start)
