"""What a worker runs: a JSON-serialisable job spec shared by every backend."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Literal

__all__ = ["WorkerSpec", "data_accessor_for", "fn_args_from_dict", "fn_args_to_dict", "worker_spec"]

# FnArgs fields that are not data (a live object); workers rebuild them from the spec's `examples`.
_UNSERIALISABLE_FN_ARGS = ("data_accessor",)
# The artifact dict key under which the spec carries the Examples artifacts.
_EXAMPLES_KEY = "examples"


@dataclasses.dataclass(frozen=True)
class WorkerSpec:
    """One launch: every worker runs `function` on the same FnArgs.

    Attributes:
      kind: `train` calls run_fn(fn_args); `tune` calls tuner_fn(fn_args) and
        runs the tuner's search.
      function: Dotted path of run_fn or tuner_fn, e.g. `trainer.task.run_fn`.
      fn_args: The FnArgs fields, as built by the TFX executor.
      examples: The Examples artifacts (TFX's artifact JSON) the workers build
        `fn_args.data_accessor` from, as TFX's own executors do; None for none.
    """

    kind: Literal["train", "tune"]
    function: str
    fn_args: dict[str, Any]
    examples: str | None = None

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


def worker_spec(kind: Literal["train", "tune"], function: str, fn_args, examples: list | None) -> WorkerSpec:
    """The spec of a launch: `fn_args` (a TFX FnArgs) as data, and the Examples artifacts it was built from."""
    from tfx.types import artifact_utils
    from tfx.utils import json_utils

    return WorkerSpec(
        kind=kind,
        function=function,
        fn_args=json_utils.loads(json_utils.dumps(fn_args_to_dict(fn_args))),
        examples=artifact_utils.jsonify_artifact_dict({_EXAMPLES_KEY: examples}) if examples else None,
    )


def data_accessor_for(examples_json: str):
    """The DataAccessor TFX's Trainer and Tuner give run_fn/tuner_fn, rebuilt from the Examples artifacts."""
    from tfx.components.trainer import fn_args_utils
    from tfx.components.util import tfxio_utils
    from tfx.types import artifact_utils

    examples = artifact_utils.parse_artifact_dict(examples_json)[_EXAMPLES_KEY]
    return fn_args_utils.DataAccessor(
        tf_dataset_factory=tfxio_utils.get_tf_dataset_factory_from_artifact(examples, []),
        record_batch_factory=tfxio_utils.get_record_batch_factory_from_artifact(examples, []),
        data_view_decode_fn=tfxio_utils.get_data_view_decode_fn_from_artifact(examples, []),
    )


def fn_args_from_dict(values: dict[str, Any], examples_json: str | None = None):
    """A TFX FnArgs from `fn_args_to_dict`'s output, with its data_accessor when the Examples are given."""
    from tfx.components.trainer import fn_args_utils

    data_accessor = data_accessor_for(examples_json) if examples_json else None
    return fn_args_utils.FnArgs(**values, data_accessor=data_accessor)
