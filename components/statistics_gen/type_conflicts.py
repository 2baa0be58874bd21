"""Finds the features whose value type differs between examples.

TFDV builds Arrow record batches from the examples and merges them; when a
feature is a float_list in one batch and a bytes_list in another, the merge
fails with "Unable to merge incompatible type: float vs large_binary", which
names neither the feature nor the data. Whether the decoder (which does name
the feature) or the merge sees the conflict depends on how Beam happened to
batch the examples. This scan gives the same answer either way.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping

from tensorflow.core.example import example_pb2

__all__ = ["DataTypeError", "TypeConflict", "describe", "find_type_conflicts", "looks_like_type_conflict"]

# What tfx_bsl's decoder ("Feature had wrong type") and Arrow's merge
# ("Unable to merge incompatible type") say about mixed value types.
_TYPE_CONFLICT_MESSAGE = re.compile(r"wrong type|incompatible type", re.IGNORECASE)


class DataTypeError(ValueError):
    """Some feature has values of different types in different examples; the message names it."""


@dataclasses.dataclass(frozen=True)
class TypeConflict:
    """One feature seen with several value types.

    Attributes:
      feature: The feature's name.
      counts: For each value type (`float_list`, `int64_list`, `bytes_list`), the examples that have it.
      first_of_rarest: Where the first example with the least common type is.
    """

    feature: str
    counts: Mapping[str, int]
    first_of_rarest: str

    @property
    def rarest(self) -> str:
        """The least common value type (on a tie, the first by name)."""
        return _rarest(self.counts)


def _rarest(counts: Mapping[str, int]) -> str:
    return min(counts, key=lambda kind: (counts[kind], kind))


def looks_like_type_conflict(message: str) -> bool:
    """Whether a failure's message is one of the ways TFDV reports mixed value types."""
    return bool(_TYPE_CONFLICT_MESSAGE.search(message))


def find_type_conflicts(records: Iterable[tuple[str, bytes]]) -> list[TypeConflict]:
    """The features with more than one value type, sorted by name.

    Args:
      records: (location, serialized tf.Example) pairs; the location is only used in the result.
    """
    counts: dict[str, dict[str, int]] = {}
    first_seen: dict[tuple[str, str], str] = {}
    for location, record in records:
        example = example_pb2.Example.FromString(record)
        for name, feature in example.features.feature.items():
            kind = feature.WhichOneof("kind")
            if kind is None:  # no list at all: a missing value, compatible with any type
                continue
            by_kind = counts.setdefault(name, {})
            by_kind[kind] = by_kind.get(kind, 0) + 1
            first_seen.setdefault((name, kind), location)
    conflicts = []
    for name in sorted(counts):
        by_kind = counts[name]
        if len(by_kind) > 1:
            conflicts.append(TypeConflict(name, dict(by_kind), first_seen[(name, _rarest(by_kind))]))
    return conflicts


def describe(conflicts: Iterable[TypeConflict], examples_uri: str) -> str:
    """The error message: every conflicting feature with its types, counts and an example to look at."""
    conflicts = list(conflicts)
    names = ", ".join(f'"{conflict.feature}"' for conflict in conflicts)
    lines = [
        f"Mixed value types in feature{'s' if len(conflicts) != 1 else ''} {names} of {examples_uri}. "
        "A feature must have one type (float_list, int64_list or bytes_list) in every example: "
        "fix the input data, or write the odd values as missing."
    ]
    for conflict in conflicts:
        by_count = sorted(conflict.counts.items(), key=lambda item: (-item[1], item[0]))
        kinds = ", ".join(f"{kind} in {count} example{'s' if count != 1 else ''}" for kind, count in by_count)
        lines.append(f'  feature "{conflict.feature}": {kinds} (first {conflict.rarest}: {conflict.first_of_rarest})')
    return "\n".join(lines)
