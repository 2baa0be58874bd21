"""status, rollback, retrain --once with nothing new, and a config error: their answer only, without loading the stack.

Each runs as a user runs it, in a fresh process; `-X importtime` lists every
module it imported, so the test sees that TensorFlow, TFX and Beam stay out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from benchmarks import commands
from pipelines import retrain
from tests.conftest import REPO_ROOT

HEAVY = ("tensorflow", "tfx", "apache_beam", "tensorflow_data_validation", "keras")


def _run(*args: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONWARNINGS"}
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    imported = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    result.stderr = "\n".join(line for line in result.stderr.splitlines() if not line.startswith("import time:"))
    return result, imported


@pytest.fixture
def root_with_an_attempted_span(tmp_path) -> list[str]:
    (tmp_path / "data" / "span-3").mkdir(parents=True)
    (tmp_path / "data" / "span-3" / "part-0.gz").write_bytes(b"")
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / retrain.STATE_FILE).write_text(json.dumps({"last_attempted_span": 3}))
    overrides = [f"pipeline.root={tmp_path / 'root'}", f"input.path={tmp_path / 'data'}"]
    overrides += [f"pusher.serving_root={tmp_path / 'serving'}", f"pipeline.log_dir={tmp_path / 'logs'}"]
    return [item for override in overrides for item in ("--set", override)]


def test_the_commands_print_their_answer_only_and_never_load_tensorflow(root_with_an_attempted_span, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("pipeline: {name: x\n")
    config = ["--config", "pipelines/configs/local.yaml", *root_with_an_attempted_span]
    cases = {
        "status": (["pipelines.status", *config], 0, "taxi-local: serving root"),
        "rollback": (["pipelines.status", "rollback", "--to", "7", *config], 2, "no version '7' under"),
        "retrain": (["pipelines.retrain", "--once", *config], 0, "no new span (newest 3, last attempted 3)"),
        "config error": (["pipelines.status", "--config", str(broken)], 2, f"error: {broken}: not valid YAML"),
    }
    for name, (args, code, answer) in cases.items():
        result, imported = _run(*args)
        output = result.stdout + result.stderr
        assert result.returncode == code and answer in output, f"{name}: {output}"
        assert commands.noise_lines(output) == [], f"{name} printed more than its answer:\n{output}"
        assert not imported & set(HEAVY), f"{name} imported {sorted(imported & set(HEAVY))}"


def test_noise_lines_are_recognised():
    """The check above can fail: the lines it looks for are the ones TensorFlow and the Google libraries print."""
    printed = [
        "2026-12-03 16:38:02.544578: W tensorflow/compiler/tf2tensorrt/utils/py_utils.cc:38] TF-TRT Warning: ...",
        "/x/google/api_core/_python_version_support.py:266: FutureWarning: You are using a non-supported Python",
        "I0000 00:00:1733 cpu_feature_guard.cc:210] This TensorFlow binary is optimized",
    ]
    assert commands.noise_lines("\n".join(["taxi-local: serving root outputs", *printed])) == printed
