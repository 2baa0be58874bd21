"""FastTransformExecutor, an executor swap for TFX's Transform; SpanCachedTransform, for an analyzer cache by span."""

from components.transform.component import SpanCachedTransform
from components.transform.executor import FastTransformExecutor

__all__ = ["FastTransformExecutor", "SpanCachedTransform"]
