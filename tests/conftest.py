"""Shared fixtures: the repo's real config and schema, sample data in temporary folders."""

from __future__ import annotations

import csv
import os
import pathlib

import pytest

from pipelines import config as config_lib
from pipelines import sample_data

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
LOCAL_CONFIG = REPO_ROOT / "pipelines" / "configs" / "local.yaml"
SCHEMA_PATH = REPO_ROOT / "schemas" / "taxi" / "schema.pbtxt"


@pytest.fixture(scope="session")
def sample_rows() -> list[dict[str, str]]:
    """The 15k rows of the taxi sample CSV, as strings."""
    with open(sample_data.SAMPLE_CSV, newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def build_config(
    input_dir: os.PathLike[str], output_dir: os.PathLike[str], *overrides: str, check_local_paths: bool = True
) -> config_lib.PipelineConfig:
    """Loads the real local.yaml with input under input_dir/{csv,tfrecord} and outputs under output_dir."""
    input_dir, output_dir = pathlib.Path(input_dir), pathlib.Path(output_dir)
    return config_lib.load_config(LOCAL_CONFIG, config_overrides(input_dir, output_dir, *overrides), check_local_paths)


def config_overrides(input_dir: pathlib.Path, output_dir: pathlib.Path, *overrides: str) -> list[str]:
    """The `--set` overrides behind build_config, for tests that go through a command line."""
    return [
        f"input.csv_path={input_dir / 'csv'}",
        f"input.tfrecord_path={input_dir / 'tfrecord'}",
        f"validation.schema_path={SCHEMA_PATH}",
        f"pipeline.root={output_dir / 'pipeline_root'}",
        f"pipeline.metadata_path={output_dir / 'metadata.sqlite'}",
        f"pipeline.log_dir={output_dir / 'logs'}",
        f"pusher.serving_root={output_dir / 'serving'}",
        *overrides,
    ]


def node_executions(config: config_lib.PipelineConfig) -> dict[str, list[str]]:
    """Execution states recorded in ML Metadata, by component id, oldest first."""
    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = config.pipeline.metadata_path
    store = metadata_store.MetadataStore(connection)
    prefix = f"{config.pipeline.name}."
    result = {}
    for context in store.get_contexts_by_type("node"):
        if context.name.startswith(prefix):
            executions = sorted(store.get_executions_by_context(context.id), key=lambda e: e.id)
            result[context.name[len(prefix) :]] = [
                metadata_store_pb2.Execution.State.Name(e.last_known_state) for e in executions
            ]
    return result


def write_input(input_dir: pathlib.Path, rows: list[dict[str, str]]) -> None:
    """Writes rows as span-1 in both formats under input_dir/{csv,tfrecord}."""
    input_config = config_lib.load_config(
        LOCAL_CONFIG,
        [f"input.csv_path={input_dir / 'csv'}", f"input.tfrecord_path={input_dir / 'tfrecord'}"],
        check_local_paths=False,
    ).input
    sample_data.write_spans([rows], input_config, sample_data.column_types(str(SCHEMA_PATH)))
