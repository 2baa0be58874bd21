"""The Beam components through Beam's PortableRunner and an EXTERNAL SDK worker pool of separate processes.

This is the client path Flink, Spark and Dataflow take (docs/configuration.md, "Running the
Beam components on a cluster"): the pipeline is translated to the portable
representation, submitted to a job service (here Beam's embedded one), and
its work runs in SDK worker processes that had to unpickle and import
everything our components ship. The pool listens on loopback only; every
process it starts is stopped by process group at the end.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import select
import signal
import subprocess
import sys
import threading
import time

import pytest

from components.pusher import versions
from pipelines import beam_worker_pool, local_runner
from pipelines import pipeline as pipeline_lib
from tests.conftest import REPO_ROOT, build_config, node_executions, write_input

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

START_TIMEOUT_SECONDS = 60


def _listening_addresses(pid: int) -> set[str]:
    """host:port of the TCP sockets process `pid` listens on, from /proc (IPv4 and IPv6)."""
    inodes = set()
    for fd in pathlib.Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = set()
    for table, width in (("tcp", 8), ("tcp6", 32)):
        for line in pathlib.Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                address, port = local.split(":")
                found.add(f"{_host(address, width)}:{int(port, 16)}")
    return found


def _host(hex_address: str, width: int) -> str:
    if width == 8:
        return ".".join(str(int(hex_address[i : i + 2], 16)) for i in (6, 4, 2, 0))
    if hex_address == "0" * 32:
        return "::"
    if hex_address[:24] == "0000000000000000FFFF0000":  # IPv4-mapped
        return _host(hex_address[24:], 8)
    if hex_address == "00000000000000000000000001000000":
        return "::1"
    return hex_address


def _group_pids(pgid: int) -> list[int]:
    pids = []
    for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                pids.append(int(stat.parent.name))
    return pids


@pytest.fixture
def worker_pool():
    """A worker pool on 127.0.0.1 in its own process group: yields (address, pid); stops the group after."""
    env = {
        **os.environ,
        # The SDK workers run `python` from PATH and import this repository.
        "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    pool = subprocess.Popen(
        [sys.executable, "-m", "pipelines.beam_worker_pool", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        ready, _, _ = select.select([pool.stdout], [], [], START_TIMEOUT_SECONDS)
        line = pool.stdout.readline() if ready else ""
        assert line.startswith(beam_worker_pool.READY_PREFIX), f"worker pool did not start: {line!r}"
        # Drain what the pool and its workers print, so that none blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in pool.stdout], daemon=True).start()
        yield line[len(beam_worker_pool.READY_PREFIX) :].strip(), pool.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pool.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while _group_pids(pool.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pool.pid, signal.SIGKILL)
        pool.wait(timeout=10)
        assert _group_pids(pool.pid) == [], "a worker process outlived the pool"


def test_the_pipeline_runs_its_beam_components_on_the_portable_runner(worker_pool, sample_rows, tmp_path):
    address, pool_pid = worker_pool
    listening = _listening_addresses(pool_pid)
    assert listening == {address}, f"the pool must listen on loopback only, not {listening}"

    write_input(tmp_path / "in", sample_rows[:2000], formats=("tfrecord",))
    beam_args = [
        "--runner=PortableRunner",
        "--job_endpoint=embed",
        "--environment_type=EXTERNAL",
        f"--environment_config={address}",
    ]
    config = build_config(
        tmp_path / "in",
        tmp_path / "out",
        "tuner.enabled=false",
        "trainer.train_steps=40",
        "evaluator.threshold=0.0",
        f"beam.args={beam_args}",
    )
    seen_workers: set[int] = set()
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen_workers.update(pid for pid in _group_pids(pool_pid) if pid != pool_pid)
            time.sleep(0.5)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        local_runner.run(config)
    finally:
        stop.set()
        watcher.join(timeout=5)

    assert seen_workers, "no SDK worker process was started: the work did not go through the pool"
    executions = node_executions(config)
    for component in (
        pipeline_lib.EXAMPLE_GEN_ID,
        pipeline_lib.STATISTICS_GEN_ID,
        pipeline_lib.TRANSFORM_ID,
        pipeline_lib.EVALUATOR_ID,
        pipeline_lib.PUSHER_ID,
    ):
        assert executions[component] == ["COMPLETE"], component
    assert len(versions.numbered_versions(config.pusher.serving_root)) == 1
