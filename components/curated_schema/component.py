"""CuratedSchemaGen: ImportSchemaGen whose cache key follows the schema file's content.

ImportSchemaGen's only parameter is the file path, so with caching on, an
edited schema.pbtxt is silently served from cache and the run validates
against the old contract. This component runs ImportSchemaGen's executor
unchanged and adds the file's SHA-256 as a parameter: a new schema, a new key.
"""

from __future__ import annotations

import hashlib

from tfx.components.schema_gen.import_schema_gen import executor
from tfx.dsl.components.base import base_component, executor_spec
from tfx.dsl.io import fileio
from tfx.types import channel, component_spec, standard_artifacts, standard_component_specs

__all__ = ["SCHEMA_SHA256_KEY", "CuratedSchemaGen", "file_sha256"]

SCHEMA_SHA256_KEY = "schema_sha256"


def file_sha256(path: str) -> str:
    """Hex SHA-256 of a local or remote (gs://, s3://) file's bytes."""
    digest = hashlib.sha256()
    with fileio.open(path, "rb") as stream:
        digest.update(stream.read())
    return digest.hexdigest()


class CuratedSchemaGenSpec(component_spec.ComponentSpec):
    """ImportSchemaGen's spec plus the schema's content hash."""

    PARAMETERS = {
        **standard_component_specs.ImportSchemaGenSpec.PARAMETERS,
        SCHEMA_SHA256_KEY: component_spec.ExecutionParameter(type=str),
    }
    INPUTS = {}
    OUTPUTS = standard_component_specs.ImportSchemaGenSpec.OUTPUTS


class CuratedSchemaGen(base_component.BaseComponent):
    """Imports a curated schema file; re-runs whenever the file's content changes."""

    SPEC_CLASS = CuratedSchemaGenSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, schema_file: str, schema_sha256: str):
        """Builds the component.

        Args:
          schema_file: Path of the schema.pbtxt to copy into the pipeline.
          schema_sha256: The file's content hash, normally `file_sha256(schema_file)`;
            when the file is only reachable where the pipeline runs (inside a
            container image), the image's own version pins the content instead.
        """
        spec = CuratedSchemaGenSpec(
            schema_file=schema_file,
            schema_sha256=schema_sha256,
            schema=channel.Channel(type=standard_artifacts.Schema),
        )
        super().__init__(spec=spec)
