"""SpanCachedTransform: TFX's Transform whose analyzer cache is reused across overlapping windows of spans.

Used only with `input.analyzer_cache: true`; otherwise the pipeline runs TFX's
own Transform component (with FastTransformExecutor under fast executors).
"""

from __future__ import annotations

from typing import Any

from tfx.components.transform import component as transform_component
from tfx.dsl.components.base import base_component, executor_spec
from tfx.proto import transform_pb2
from tfx.types import channel, component_spec, standard_artifacts, standard_component_specs
from tfx.utils import json_utils

from components.transform.executor import ANALYZER_CACHE_DIR_KEY, SpanCachedTransformExecutor

__all__ = ["SpanCachedTransform"]


class SpanCachedTransformSpec(component_spec.ComponentSpec):
    """TFX's TransformSpec plus the folder the analyzer cache lives in from run to run."""

    PARAMETERS = {
        **standard_component_specs.TransformSpec.PARAMETERS,
        ANALYZER_CACHE_DIR_KEY: component_spec.ExecutionParameter(type=str, optional=True),
    }
    INPUTS = standard_component_specs.TransformSpec.INPUTS
    OUTPUTS = standard_component_specs.TransformSpec.OUTPUTS


class SpanCachedTransform(transform_component.Transform):
    """Transform with a persistent analyzer cache keyed by span (see executor.py).

    As the pipeline's stock Transform, it analyses and writes the transform
    graph only: no statistics (StatisticsGen describes the raw data) and no
    transformed copy of the examples (the Trainer and the Tuner apply the graph
    as they read, trainer/data.py, as the exported model does at serving time).
    """

    SPEC_CLASS = SpanCachedTransformSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(SpanCachedTransformExecutor)

    def __init__(
        self,
        examples: channel.BaseChannel,
        schema: channel.BaseChannel,
        preprocessing_fn: str,
        custom_config: dict[str, Any],
        splits_config: transform_pb2.SplitsConfig | None = None,
        analyzer_cache_dir: str | None = None,
    ):
        """Builds the component.

        Args:
          examples: ExampleGen's examples (all splits of the window).
          schema: The validated schema.
          preprocessing_fn: Dotted path of the preprocessing function.
          custom_config: Passed to the preprocessing function.
          splits_config: Which splits are analysed (none is transformed here).
          analyzer_cache_dir: The folder holding the analysis of each span
            between runs; None turns the cache off.
        """
        spec = SpanCachedTransformSpec(
            examples=examples,
            schema=schema,
            preprocessing_fn=preprocessing_fn,
            force_tf_compat_v1=0,
            splits_config=splits_config,
            custom_config=json_utils.dumps(custom_config),
            # StatisticsGen already describes the raw data; Transform computes none.
            disable_statistics=1,
            analyzer_cache_dir=analyzer_cache_dir,
            transform_graph=channel.Channel(type=standard_artifacts.TransformGraph),
            updated_analyzer_cache=channel.Channel(type=standard_artifacts.TransformCache)
            if analyzer_cache_dir
            else None,
        )
        base_component.BaseComponent.__init__(self, spec=spec)
