"""Our ExampleGens: TFX's ImportExampleGen and CsvExampleGen, reading a window of spans and naming bad files.

The TFRecord one imports with batches of records as Beam's elements
(batched.py: TFX's hash split and file layout, a fixed shuffled order); the
CSV one runs TFX's CsvExampleGen, which parses row by row.

They stay FileBasedExampleGens, so every orchestrator runs TFX's own driver,
which resolves the newest span and fingerprints its files (the cache key);
Kubeflow Pipelines v2 runs it as the step's pre-cache check. The executor
reads the window's older spans itself (components/example_gen/window.py).
"""

from __future__ import annotations

from tfx.components.example_gen import component as example_gen_component
from tfx.dsl.components.base import base_component, executor_spec
from tfx.proto import example_gen_pb2
from tfx.types import channel, component_spec, standard_artifacts, standard_component_specs

from components.example_gen import executor
from components.example_gen.executor import WINDOW_PATTERN_KEY, WINDOW_SPANS_KEY
from trainer.code_version import CODE_VERSION_KEY

__all__ = ["WindowedCsvExampleGen", "WindowedImportExampleGen"]


class WindowedExampleGenSpec(component_spec.ComponentSpec):
    """FileBasedExampleGen's spec plus the window: how many spans, and the pattern with {SPAN}."""

    PARAMETERS = {
        **standard_component_specs.FileBasedExampleGenSpec.PARAMETERS,
        WINDOW_SPANS_KEY: component_spec.ExecutionParameter(type=int, optional=True),
        WINDOW_PATTERN_KEY: component_spec.ExecutionParameter(type=str, optional=True),
        # The hash of the code the executor runs, for the cache key.
        CODE_VERSION_KEY: component_spec.ExecutionParameter(type=str, optional=True),
    }
    INPUTS = standard_component_specs.FileBasedExampleGenSpec.INPUTS
    OUTPUTS = standard_component_specs.FileBasedExampleGenSpec.OUTPUTS


class _WindowedExampleGen(example_gen_component.FileBasedExampleGen):
    SPEC_CLASS = WindowedExampleGenSpec

    def __init__(
        self,
        input_base: str,
        input_config: example_gen_pb2.Input,
        output_config: example_gen_pb2.Output,
        window_spans: int = 1,
        code_version: str | None = None,
    ):
        """Builds the component.

        Args:
          input_base: The folder holding the data.
          input_config: One split whose pattern may hold {SPAN}; the driver reads its newest span.
          output_config: The hash split of the newest span into train and eval.
          window_spans: How many spans to read: the newest and the ones before it.
          code_version: The hash of the code the executor runs.
        """
        spec = WindowedExampleGenSpec(
            input_base=input_base,
            input_config=input_config,
            output_config=output_config,
            output_data_format=example_gen_pb2.FORMAT_TF_EXAMPLE,
            output_file_format=example_gen_pb2.FORMAT_TFRECORDS_GZIP,
            window_spans=window_spans,
            window_pattern=input_config.splits[0].pattern,
            code_version=code_version,
            examples=channel.Channel(type=standard_artifacts.Examples),
        )
        base_component.BaseComponent.__init__(self, spec=spec)


class WindowedImportExampleGen(_WindowedExampleGen):
    """ImportExampleGen (gzipped TFRecords of tf.Example) over a window of spans; names unreadable files."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.TFRecordExecutor)


class WindowedCsvExampleGen(_WindowedExampleGen):
    """CsvExampleGen over a window of spans; names unreadable files."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.CsvExecutor)
