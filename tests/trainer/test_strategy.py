"""Strategy selection for each TF_CONFIG shape, cluster roles, and TPU errors that do not hang."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from trainer import strategy
from trainer.strategy import StrategyKind

TWO_WORKERS = {"cluster": {"worker": ["localhost:1", "localhost:2"]}, "task": {"type": "worker", "index": 1}}
CHIEF_AND_WORKER = {
    "cluster": {"chief": ["localhost:1"], "worker": ["localhost:2"]},
    "task": {"type": "chief", "index": 0},
}
ONE_WORKER = {"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": 0}}


@pytest.mark.parametrize(
    ("tf_config", "num_gpus", "expected"),
    [
        (None, 0, StrategyKind.DEFAULT),
        (None, 1, StrategyKind.DEFAULT),
        (None, 4, StrategyKind.MIRRORED),
        (ONE_WORKER, 0, StrategyKind.DEFAULT),
        (TWO_WORKERS, 0, StrategyKind.MULTI_WORKER),
        (CHIEF_AND_WORKER, 2, StrategyKind.MULTI_WORKER),
    ],
    ids=["no_tf_config", "one_gpu", "several_gpus", "single_worker_cluster", "two_workers", "chief_and_worker"],
)
def test_auto_picks_by_cluster_then_gpus(tf_config, num_gpus, expected):
    assert strategy.choose_strategy("auto", tf_config, num_gpus) is expected


@pytest.mark.parametrize("name", ["default", "mirrored", "multi_worker", "tpu"])
def test_explicit_names_are_honoured(name):
    assert strategy.choose_strategy(name, TWO_WORKERS, 0).value == name


def test_unknown_strategy_lists_the_choices():
    with pytest.raises(strategy.StrategyError, match="unknown strategy 'parameter_server'; expected one of: auto"):
        strategy.choose_strategy("parameter_server", None, 0)


@pytest.mark.parametrize(
    ("tf_config", "is_chief", "worker_id", "num_workers"),
    [
        (None, True, "worker-0", 1),
        (TWO_WORKERS, False, "worker-1", 2),
        ({**TWO_WORKERS, "task": {"type": "worker", "index": 0}}, True, "worker-0", 2),
        (CHIEF_AND_WORKER, True, "chief-0", 2),
        ({**CHIEF_AND_WORKER, "task": {"type": "worker", "index": 0}}, False, "worker-0", 2),
    ],
    ids=["alone", "second_worker", "first_worker", "chief_task", "worker_beside_chief"],
)
def test_cluster_role(tf_config, is_chief, worker_id, num_workers):
    role = strategy.cluster_role(tf_config)
    assert (role.is_chief, role.worker_id, role.num_workers) == (is_chief, worker_id, num_workers)


def test_tf_config_errors_name_the_variable():
    with pytest.raises(strategy.StrategyError, match="TF_CONFIG is not valid JSON"):
        strategy.parse_tf_config("{not json")
    with pytest.raises(strategy.StrategyError, match="'cluster' mapping"):
        strategy.parse_tf_config(json.dumps({"cluster": ["a"]}))
    assert strategy.parse_tf_config("") is None
    with pytest.raises(strategy.StrategyError, match="no task type/index"):
        strategy.cluster_role({"cluster": {"worker": ["a:1", "b:2"]}})


def test_tpu_without_an_address_fails_at_once():
    started = time.monotonic()
    with pytest.raises(strategy.StrategyError, match=r"needs trainer\.tpu_address"):
        strategy.create_strategy(StrategyKind.TPU, None)
    assert time.monotonic() - started < 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run_isolated(code: str, timeout: float) -> subprocess.CompletedProcess:
    # Connecting to a TPU cluster changes TensorFlow's global context: keep it out of this process.
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=timeout
    )


def test_tpu_address_nobody_listens_on_fails_fast():
    result = _run_isolated(
        f"""
        from trainer import strategy
        try:
            strategy.create_strategy(strategy.StrategyKind.TPU, "grpc://127.0.0.1:{_free_port()}")
        except strategy.StrategyError as error:
            print("ERROR:", error)
        """,
        timeout=60,
    )
    assert "ERROR: cannot reach the TPU at 'grpc://127.0.0.1:" in result.stdout, result.stderr[-2000:]


def test_tpu_that_never_answers_times_out_instead_of_hanging():
    # A TCP server that accepts and then says nothing: the worst case for TPU initialisation.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        result = _run_isolated(
            f"""
            from trainer import strategy
            try:
                strategy._tpu_strategy("grpc://127.0.0.1:{port}", timeout_seconds=5)
            except strategy.StrategyError as error:
                print("ERROR:", error)
            """,
            timeout=90,
        )
    assert "ERROR:" in result.stdout, result.stderr[-2000:]
    assert "did not initialise within 5s" in result.stdout or "no usable TPU" in result.stdout


def test_local_tpu_on_a_machine_without_one_is_a_clear_error():
    result = _run_isolated(
        """
        from trainer import strategy
        try:
            strategy.create_strategy(strategy.StrategyKind.TPU, "local")
        except strategy.StrategyError as error:
            print("ERROR:", error)
        """,
        timeout=200,
    )
    assert "ERROR: " in result.stdout and "'local'" in result.stdout, result.stderr[-2000:]
