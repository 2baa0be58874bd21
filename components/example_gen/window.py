"""The rolling window of spans: which spans a run reads, their split names, and stable identities.

With `input.window_spans: N` a run reads the newest span the driver resolved
(split by hash into `train` and `eval`, as without a window) and the N-1 spans
before it. Each older span keeps the hash partition it had when it was the
newest, as two splits `older<k>_train` and `older<k>_eval` (k = 1 for the span
just before): both are training data now, and the same rows keep the same
split name-independent identity from run to run, which lets Transform reuse
its analysis of them (components/transform). Spans that appear while a run
is under way are not read: a run reads spans up to the one its driver resolved.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import os
import re

__all__ = [
    "SPAN_TOKEN",
    "SpanPart",
    "available_spans",
    "older_split_names",
    "span_fingerprint",
    "span_pattern",
    "window_spans",
]

SPAN_TOKEN = "{SPAN}"
TRAIN, EVAL = "train", "eval"


def older_split_names(window: int) -> list[str]:
    """The split names of the older spans of a window of `window` spans, nearest first."""
    return [f"older{k}_{part}" for k in range(1, window) for part in (TRAIN, EVAL)]


def span_pattern(pattern: str, span: int) -> str:
    """The glob of one span's files."""
    return pattern.replace(SPAN_TOKEN, str(span))


def available_spans(input_base: str, pattern: str) -> list[int]:
    """Every span with at least one file matching the pattern, ascending (none without {SPAN})."""
    location = os.path.join(input_base, pattern)
    if SPAN_TOKEN not in location:
        return []
    prefix, _, _ = location.partition(SPAN_TOKEN)
    found = set()
    for path in glob.glob(location.replace(SPAN_TOKEN, "*")):
        match = re.match(re.escape(prefix) + r"(\d+)", path)
        if match and os.path.isfile(path):
            found.add(int(match.group(1)))
    return sorted(found)


def window_spans(input_base: str, pattern: str, newest: int, window: int) -> list[int]:
    """The spans a run reads: `newest` and the `window - 1` highest existing spans below it, newest first.

    Spans above `newest` (landed mid-run) are ignored.
    """
    older = [span for span in available_spans(input_base, pattern) if span < newest]
    return [newest, *reversed(older[-(window - 1) :] if window > 1 else [])]


def span_fingerprint(input_base: str, pattern: str, span: int) -> str:
    """A hash of a span's file names, sizes and modification times: it changes when the span's files do."""
    digest = hashlib.sha256()
    for path in sorted(glob.glob(os.path.join(input_base, span_pattern(pattern, span)))):
        status = os.stat(path)
        digest.update(f"{os.path.relpath(path, input_base)}:{status.st_size}:{status.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


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
    parts = [SpanPart(TRAIN, spans[0], TRAIN), SpanPart(EVAL, spans[0], EVAL)]
    for k in range(1, window):
        span = spans[k] if k < len(spans) else None
        parts += [SpanPart(f"older{k}_{part}", span, part) for part in (TRAIN, EVAL)]
    return parts
