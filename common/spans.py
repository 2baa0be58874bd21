"""Spans of input data: the numbered folders (or files) an input pattern's `{SPAN}` marks.

A pattern such as `span-{SPAN}/*` under the input folder names one span per
number; data that keeps arriving lands as new, higher spans. These functions
only look at file names: the retraining loop, the config checks and the
ExampleGen executors share them.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re

__all__ = ["SPAN_TOKEN", "available_spans", "span_fingerprint", "span_pattern", "window_spans"]

SPAN_TOKEN = "{SPAN}"


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
