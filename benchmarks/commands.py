"""Benchmark: the everyday commands' wall time, each against a bare Python start and TensorFlow's import.

  python -m benchmarks.commands [--config FILE] [--repeat 5] [--python PATH]

Runs each command as a user does, in a fresh process, `--repeat` times, and
prints the median wall time, its ratio to `import tensorflow` (what a command
that loads the stack pays before it does anything) and the lines it printed
that are not its answer (warnings, TensorFlow's start-up lines):
- `status` of the config's pipeline;
- `rollback` to a version that does not exist (it answers with the versions there are);
- `retrain --once` when the newest span was already attempted (it answers "no new span");
- a config with a YAML error.
The retrain and config cases run on a temporary pipeline root and input folder
(one empty span), so nothing of the config's own outputs is touched.
`--python` runs the commands with another checkout's interpreter (its venv's
`bin/python`, with that checkout as the working directory), to compare two trees
in one session.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

from pipelines import local_runner, retrain

# What a command may print besides its answer: nothing of these.
NOISE_MARKERS = ("Warning", "warning", "W0000", "I0000", "tensorflow/", "oneDNN", "cuda", "TensorRT")


def noise_lines(output: str) -> list[str]:
    """The lines of a command's output that are warnings or library start-up lines."""
    return [line for line in output.splitlines() if any(marker in line for marker in NOISE_MARKERS)]


def _time(command: list[str], cwd: str, repeat: int) -> tuple[float, list[str], str]:
    times, noise, answer = [], [], ""
    for _ in range(repeat):
        started = time.perf_counter()
        result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)
        times.append(time.perf_counter() - started)
        noise = noise_lines(result.stdout + result.stderr)
        answer = (result.stdout + result.stderr).strip().splitlines()[-1:] or [""]
    return statistics.median(times), noise, answer[0]


def _fixture(folder: pathlib.Path) -> tuple[list[str], pathlib.Path]:
    """Overrides for a pipeline root whose one span was already attempted, and a config with a YAML error."""
    span = folder / "data" / "span-1"
    span.mkdir(parents=True)
    (span / "part-0.gz").write_bytes(b"")
    root = folder / "root"
    root.mkdir()
    (root / retrain.STATE_FILE).write_text(json.dumps({"last_attempted_span": 1, "outcome": "pushed"}))
    broken = folder / "broken.yaml"
    broken.write_text("pipeline: {name: x\n")
    overrides = [f"pipeline.root={root}", f"input.path={folder / 'data'}", "input.pattern=span-{SPAN}/*"]
    return [item for override in overrides for item in ("--set", override)], broken


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=local_runner.DEFAULT_CONFIG, help="relative to the checkout")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--python", default=sys.executable, help="the interpreter to run the commands with")
    args = parser.parse_args(argv)
    python = args.python
    # A venv's bin/python: its checkout is two folders up (the path as given: a venv's python is a symlink).
    cwd = str(pathlib.Path(python).parent.parent.parent) if args.python != sys.executable else os.getcwd()
    config = args.config  # relative to the checkout the commands run in
    with tempfile.TemporaryDirectory() as temporary:
        overrides, broken = _fixture(pathlib.Path(temporary))
        cases = {
            "python -c pass": [python, "-c", "pass"],
            "import tensorflow": [python, "-c", "import tensorflow"],
            "status": [python, "-m", "pipelines.status", "--config", config],
            "rollback (no such version)": [
                python,
                "-m",
                "pipelines.status",
                "rollback",
                "--to",
                "0",
                "--config",
                config,
            ],
            "retrain --once (nothing new)": [
                python,
                "-m",
                "pipelines.retrain",
                "--once",
                "--config",
                config,
                *overrides,
            ],
            "config error": [python, "-m", "pipelines.status", "--config", str(broken)],
        }
        results = {name: _time(command, cwd, args.repeat) for name, command in cases.items()}
    reference = results["import tensorflow"][0]
    print(f"\nEveryday commands, median of {args.repeat} runs ({python}):\n")
    print("| command | s | x import tensorflow | other lines printed | answer |")
    print("| --- | --- | --- | --- | --- |")
    for name, (seconds, noise, answer) in results.items():
        shown = answer if len(answer) <= 70 else answer[:67] + "..."
        print(f"| {name} | {seconds:.2f} | {seconds / reference:.2f} | {len(noise)} | {shown} |")


if __name__ == "__main__":
    main()
