"""Every bad input of the corpus stops the run where it must, says what is wrong, and loses nothing.

Each case starts from a copy of a previous run's ML Metadata and serving
folder (the same pipeline, a model already pushed), runs the real pipeline through
the command line on the bad span, and checks: the exit code; the failing
component; the error naming the feature or the file; the run summary; no
Transform or Trainer execution; every earlier execution and artifact still in
ML Metadata; the served model untouched.
"""

from __future__ import annotations

import hashlib
import pathlib
import shutil

import pytest

from components.pusher import versions
from pipelines import local_runner
from pipelines import pipeline as pipeline_lib
from tests.conftest import LOCAL_CONFIG, build_config, config_overrides, node_executions, write_input
from tests.integration.bad_inputs import CASES, CONFIG, BadInput
from tests.integration.conftest import summaries

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600), pytest.mark.xdist_group("bad_inputs")]


@pytest.fixture(scope="module")
def previous_run(sample_rows, tmp_path_factory):
    """A run that pushed a model (fast settings, the sample's first 3 000 rows): what a bad run must not touch."""
    folder = tmp_path_factory.mktemp("previous_run")
    write_input(folder / "in", sample_rows[:3000], formats=("tfrecord",))
    config = build_config(
        folder / "in", folder / "out", "tuner.enabled=false", "trainer.train_steps=40", "evaluator.threshold=0.0"
    )
    local_runner.run(config)
    assert versions.numbered_versions(config.pusher.serving_root), "the previous run pushed a model"
    return config


def _tree_digest(folder: pathlib.Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _metadata(path: pathlib.Path) -> tuple[dict[int, int], set[int]]:
    """(execution id -> state, artifact ids) in an ML Metadata store."""
    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = str(path)
    store = metadata_store.MetadataStore(connection)
    executions = {execution.id: execution.last_known_state for execution in store.get_executions()}
    return executions, {artifact.id for artifact in store.get_artifacts()}


def _write_case(case: BadInput, rows, input_dir: pathlib.Path) -> None:
    rows = [dict(row) for row in rows[: case.num_rows]]
    if case.edit_rows:
        rows = case.edit_rows(rows)
    write_input(input_dir, rows, formats=(case.input_format,))
    if case.edit_file:
        (span_file,) = (input_dir / case.input_format / "span-1").iterdir()
        case.edit_file(span_file)


@pytest.mark.parametrize("case", CASES, ids=[case.case for case in CASES])
def test_a_bad_input_stops_the_run_with_a_message_and_loses_nothing(case, previous_run, sample_rows, tmp_path, capsys):
    good_config = previous_run
    output = tmp_path / "out"
    output.mkdir()
    shutil.copy(good_config.pipeline.metadata_path, output / "metadata.sqlite")
    shutil.copytree(good_config.pusher.serving_root, output / "serving")
    before_metadata = _metadata(output / "metadata.sqlite")
    before_serving = _tree_digest(output / "serving")
    _write_case(case, sample_rows, tmp_path / "in")
    overrides = config_overrides(tmp_path / "in", output, input_format=case.input_format)
    capsys.readouterr()

    code = local_runner.main(["--config", str(LOCAL_CONFIG), *[arg for o in overrides for arg in ("--set", o)]])

    captured = capsys.readouterr()
    for text in case.expected:
        assert text in captured.err, f"{text!r} not in the error:\n{captured.err[-3000:]}"
    assert _tree_digest(output / "serving") == before_serving, "the served model was touched"
    if case.stops_at == CONFIG:
        assert code == 2 and _metadata(output / "metadata.sqlite") == before_metadata
        return
    assert code == 1
    assert f"{case.stops_at} FAILED" in captured.out
    config = build_config(tmp_path / "in", output, input_format=case.input_format)
    executions = node_executions(config)
    assert executions[case.stops_at][-1] == "FAILED"
    for component in (pipeline_lib.TRANSFORM_ID, pipeline_lib.TRAINER_ID, pipeline_lib.PUSHER_ID):
        assert len(executions.get(component, [])) == len(node_executions(good_config).get(component, [])), component
    after_executions, after_artifacts = _metadata(output / "metadata.sqlite")
    executions_before, artifacts_before = before_metadata
    assert {key: after_executions[key] for key in executions_before} == executions_before, "ML Metadata lost history"
    assert artifacts_before <= after_artifacts
    summary = summaries(config)[-1]
    assert summary["outcome"] == "stopped" and summary["stopped_by"] == case.stops_at
    (served,) = [path.name for path in (output / "serving").iterdir() if path.name.isdigit()]
    assert summary["serving_version"] == served
    assert f"serving stays at version {served}" in captured.out
    print(f"\n{case.case} -> {case.stops_at}: {summary['reason']}")
