"""WindowedExampleGen: TFX's FileBasedExampleGen reading the newest span and the N-1 spans before it.

TFX reads one span per run (its driver resolves the newest); a window over
several needs a resolver over spans, which Kubeflow Pipelines v2 refuses
(`SpanRangeStrategy`). This component stays a FileBasedExampleGen, so every
orchestrator runs TFX's own driver (the newest span and its fingerprint: the
cache key); its two parameters tell the executor which older spans to read
too. Which executor reads them is the caller's: executor.py's TFRecord or CSV one.
"""

from __future__ import annotations

from tfx.components.example_gen import component as example_gen_component
from tfx.dsl.components.base import base_component, executor_spec
from tfx.proto import example_gen_pb2
from tfx.types import channel, component_spec, standard_artifacts, standard_component_specs

from components.example_gen import executor
from components.example_gen.executor import WINDOW_PATTERN_KEY, WINDOW_SPANS_KEY

__all__ = ["WindowedExampleGen"]


class WindowedExampleGenSpec(component_spec.ComponentSpec):
    """FileBasedExampleGen's spec plus the window: how many spans, and the input pattern with {SPAN}."""

    PARAMETERS = {
        **standard_component_specs.FileBasedExampleGenSpec.PARAMETERS,
        WINDOW_SPANS_KEY: component_spec.ExecutionParameter(type=int),
        WINDOW_PATTERN_KEY: component_spec.ExecutionParameter(type=str),
    }
    INPUTS = standard_component_specs.FileBasedExampleGenSpec.INPUTS
    OUTPUTS = standard_component_specs.FileBasedExampleGenSpec.OUTPUTS


class WindowedExampleGen(example_gen_component.FileBasedExampleGen):
    """A FileBasedExampleGen over a window of spans; train and eval come from the newest one."""

    SPEC_CLASS = WindowedExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.FastImportExecutor)

    def __init__(
        self,
        input_base: str,
        input_config: example_gen_pb2.Input,
        output_config: example_gen_pb2.Output,
        window_spans: int,
        custom_executor_spec: executor_spec.ExecutorSpec | None = None,
    ):
        """Builds the component.

        Args:
          input_base: The folder holding the data.
          input_config: One split whose pattern holds {SPAN}; the driver resolves its newest span.
          output_config: The hash split of the newest span into train and eval.
          window_spans: How many spans to read: the newest and the ones before it.
          custom_executor_spec: The executor (default FastImportExecutor; WindowedCsvExecutor for CSV).
        """
        spec = WindowedExampleGenSpec(
            input_base=input_base,
            input_config=input_config,
            output_config=output_config,
            output_data_format=example_gen_pb2.FORMAT_TF_EXAMPLE,
            output_file_format=example_gen_pb2.FORMAT_TFRECORDS_GZIP,
            window_spans=window_spans,
            window_pattern=input_config.splits[0].pattern,
            examples=channel.Channel(type=standard_artifacts.Examples),
        )
        base_component.BaseComponent.__init__(self, spec=spec, custom_executor_spec=custom_executor_spec)
