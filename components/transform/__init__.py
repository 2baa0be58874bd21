"""SpanCachedTransform: Transform whose analyzer cache follows the spans of a rolling window."""

from components.transform.component import SpanCachedTransform

__all__ = ["SpanCachedTransform"]
