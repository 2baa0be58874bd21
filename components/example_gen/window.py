"""The rolling window of spans as splits: which split holds which span's rows, and their stable identities.

With `input.window_spans: N` a run reads the newest span the driver resolved
(split by hash into `train` and `eval`, as without a window) and the N-1 spans
before it (common/spans.py). Each older span keeps the hash partition it had
when it was the newest, as two splits `older<k>_train` and `older<k>_eval`
(k = 1 for the span just before): both are training data now, and the same
rows keep the same split-name-independent identity from run to run, which
lets Transform reuse its analysis of them (components/transform). Spans that
appear while a run is under way are not read: a run reads spans up to the one
its driver resolved.
"""

from __future__ import annotations

import dataclasses

from components import artifacts

__all__ = ["SpanPart", "window_parts"]


@dataclasses.dataclass(frozen=True)
class SpanPart:
    """One output split: which span's rows, and which hash partition of them."""

    split: str
    span: int | None  # None: the window has fewer spans than positions; the split is empty
    part: str  # train or eval

    def identity(self, fingerprint: str, partition: str) -> str | None:
        """The same rows, the same identity, whatever split name they carry in a run."""
        if self.span is None:
            return None
        return f"span-{self.span}-{fingerprint}-{self.part}-{partition}"


def window_parts(spans: list[int], window: int) -> list[SpanPart]:
    """The splits of a window: the newest span's train and eval, then each older position's two parts."""
    train, evaluation = artifacts.TRAIN_SPLIT, artifacts.EVAL_SPLIT
    parts = [SpanPart(train, spans[0], train), SpanPart(evaluation, spans[0], evaluation)]
    names = artifacts.older_split_names(window)
    for k in range(1, window):
        span = spans[k] if k < len(spans) else None
        parts += [
            SpanPart(names[2 * (k - 1)], span, train),
            SpanPart(names[2 * (k - 1) + 1], span, evaluation),
        ]
    return parts
