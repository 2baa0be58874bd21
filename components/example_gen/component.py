"""ExampleGens that name an unreadable input file: TFX's ImportExampleGen and CsvExampleGen, other executors."""

from __future__ import annotations

from tfx.components import CsvExampleGen, ImportExampleGen
from tfx.dsl.components.base import executor_spec

from components.example_gen import executor

__all__ = ["CheckedCsvExampleGen", "CheckedImportExampleGen"]


class CheckedImportExampleGen(ImportExampleGen):
    """ImportExampleGen (gzipped TFRecords of tf.Example) whose failure on a bad file names it."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.TFRecordExecutor)


class CheckedCsvExampleGen(CsvExampleGen):
    """CsvExampleGen whose failure on a bad file names it."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.CsvExecutor)
