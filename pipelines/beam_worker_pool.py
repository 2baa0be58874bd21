"""Beam's external SDK worker pool, bound to one interface.

The Beam components run on a portable runner (Flink, Spark, or here Beam's
PortableRunner with its embedded job service) by handing work to SDK worker
processes. With `--environment_type=EXTERNAL --environment_config=HOST:PORT`
the runner asks a worker pool at HOST:PORT to start them. Beam's own pool
(`apache_beam.runners.worker.worker_pool_main`) listens on every interface;
this one listens on `--host` only (127.0.0.1 by default), which is all a
single machine needs.

    python -m pipelines.beam_worker_pool --port 50000

It prints `listening on HOST:PORT` once ready (with `--port 0`, the port it
got). The SDK workers it starts run `python` from PATH and import the
pipeline's code: put the virtual environment's `bin` first on PATH and the
repository on PYTHONPATH. SIGTERM or SIGINT stops the pool and its workers.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

__all__ = ["READY_PREFIX", "main", "serve"]

READY_PREFIX = "listening on "


def serve(host: str, port: int):
    """Starts a worker pool on host:port; returns (address, grpc server, servicer)."""
    import grpc
    from apache_beam.portability.api import beam_fn_api_pb2_grpc
    from apache_beam.runners.worker.worker_pool_main import BeamFnExternalWorkerPoolServicer
    from apache_beam.utils import thread_pool_executor

    server = grpc.server(thread_pool_executor.shared_unbounded_instance())
    bound = server.add_insecure_port(f"{host}:{port}")
    if not bound:
        raise OSError(f"cannot listen on {host}:{port}")
    servicer = BeamFnExternalWorkerPoolServicer(use_process=True)
    beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(servicer, server)
    server.start()
    return f"{host}:{bound}", server, servicer


def _stop_workers(servicer) -> None:
    from apache_beam.runners.worker.worker_pool_main import kill_process_gracefully

    for process in list(servicer._worker_processes.values()):  # Beam keeps no public handle
        kill_process_gracefully(process)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a Beam SDK worker pool for EXTERNAL environments.")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on; 0 picks a free one")
    args = parser.parse_args(argv)
    address, server, servicer = serve(args.host, args.port)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(f"{READY_PREFIX}{address}", flush=True)
    stop.wait()
    server.stop(0)
    _stop_workers(servicer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
