"""Spans of input data: which exist, which a window reads, and when a span's files changed."""

from __future__ import annotations

from common import spans


def _span(folder, span: int, name: str = "part.tfrecord.gz", content: bytes = b"x") -> None:
    path = folder / f"span-{span}" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def test_the_window_is_the_newest_span_and_the_ones_below_it(tmp_path):
    for span in (1, 2, 3, 7):
        _span(tmp_path, span)
    (tmp_path / "span-9").mkdir()  # no files: not a span
    assert spans.available_spans(str(tmp_path), "span-{SPAN}/*") == [1, 2, 3, 7]
    assert spans.window_spans(str(tmp_path), "span-{SPAN}/*", newest=7, window=3) == [7, 3, 2]
    assert spans.window_spans(str(tmp_path), "span-{SPAN}/*", newest=2, window=4) == [2, 1], "fewer spans exist"
    assert spans.window_spans(str(tmp_path), "span-{SPAN}/*", newest=3, window=1) == [3]
    assert spans.available_spans(str(tmp_path), "*.gz") == [], "a flat pattern has no spans"
    assert spans.span_pattern("span-{SPAN}/*", 12) == "span-12/*"


def test_a_span_fingerprint_changes_with_its_files(tmp_path):
    _span(tmp_path, 1)
    before = spans.span_fingerprint(str(tmp_path), "span-{SPAN}/*", 1)
    assert before == spans.span_fingerprint(str(tmp_path), "span-{SPAN}/*", 1)
    _span(tmp_path, 1, "more.tfrecord.gz", b"")
    assert spans.span_fingerprint(str(tmp_path), "span-{SPAN}/*", 1) != before
