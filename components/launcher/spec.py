"""What a worker runs: a JSON-serialisable job spec shared by every backend."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Literal

__all__ = ["WorkerSpec", "fn_args_from_dict", "fn_args_to_dict"]

# FnArgs fields that are not data (a live object); workers rebuild what they need.
_UNSERIALISABLE_FN_ARGS = ("data_accessor",)


@dataclasses.dataclass(frozen=True)
class WorkerSpec:
    """One launch: every worker runs `function` on the same FnArgs.

    Attributes:
      kind: `train` calls run_fn(fn_args); `tune` calls tuner_fn(fn_args) and
        runs the tuner's search.
      function: Dotted path of run_fn or tuner_fn, e.g. `trainer.task.run_fn`.
      fn_args: The FnArgs fields, as built by the TFX executor.
    """

    kind: Literal["train", "tune"]
    function: str
    fn_args: dict[str, Any]

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> WorkerSpec:
        values = json.loads(text)
        if values.get("kind") not in ("train", "tune"):
            raise ValueError(f"worker spec kind must be 'train' or 'tune', got {values.get('kind')!r}")
        return cls(**values)


def fn_args_to_dict(fn_args) -> dict[str, Any]:
    """The serialisable fields of a TFX FnArgs."""
    import attr

    return attr.asdict(fn_args, filter=lambda field, _: field.name not in _UNSERIALISABLE_FN_ARGS)


def fn_args_from_dict(values: dict[str, Any]):
    """A TFX FnArgs from `fn_args_to_dict`'s output."""
    from tfx.components.trainer import fn_args_utils

    return fn_args_utils.FnArgs(**values)
