"""AtomicPusher's executor: TFX's filesystem push, made atomic, exclusive and verified.

Changes to the stock filesystem push:
- The model is copied into a hidden staging folder beside the versions,
  verified there (it loads and serves a raw example: finite outputs), and
  renamed to its version number under the serving root's lock
  (components/pusher/versions.py): TensorFlow Serving never sees a half-copied
  version, and two concurrent pushes never take the same number.
- A model identical to the newest pushed version is not copied again. With
  unchanged data and code, a re-run re-evaluates the cached model against
  itself and the stock Pusher would push it again.
- Version numbers always increase (Unix time, or newest + 1).
- In gs:// object storage, where nothing can be renamed, the model is staged,
  each copied file checked against the source (size and MD5), copied into its
  version and published by a marker object written last, under a lease
  (components/pusher/object_push.py); readers take only marked versions.
The PushedModel artifact records `pushed_new_version`: 1 when this run added
a version, 0 when the model was already served.
"""

from __future__ import annotations

import os
from typing import Any

from absl import logging
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

from common import records, tfx_compat
from components import artifacts
from components.pusher import object_push, versions
from trainer import warm_start

__all__ = [
    "EXAMPLES_KEY",
    "PUSHED_NEW_VERSION_PROPERTY",
    "AtomicPushExecutor",
    "PushVerificationError",
    "verify_serving",
]

PUSHED_NEW_VERSION_PROPERTY = "pushed_new_version"
# Optional input: raw examples, one of which the staged model must serve before it is published.
EXAMPLES_KEY = "examples"
_SERVING_SIGNATURE = "serving_default"


class PushVerificationError(RuntimeError):
    """The staged model does not load or serve; nothing was published. The message says what failed."""


def verify_serving(model_dir: str, example: bytes | None) -> None:
    """Loads the SavedModel and, given a raw serialized tf.Example, serves it.

    Raises:
      PushVerificationError: If it does not load, has no serving_default
        signature, fails on the example, or returns a non-finite number.
    """
    import numpy as np
    import tensorflow as tf

    try:
        signature = tf.saved_model.load(model_dir).signatures[_SERVING_SIGNATURE]
    except Exception as error:  # noqa: BLE001 - any load failure means: do not publish
        raise PushVerificationError(
            f"the model at {model_dir} does not load with a {_SERVING_SIGNATURE} signature: {error}"
        ) from None
    if example is None:
        return
    try:
        outputs = signature(examples=tf.constant([example]))
    except Exception as error:  # noqa: BLE001 - any serving failure means: do not publish
        raise PushVerificationError(f"the model at {model_dir} fails to serve a raw eval example: {error}") from None
    for name, tensor in outputs.items():
        if tensor.dtype.is_floating and not np.isfinite(tensor.numpy()).all():
            raise PushVerificationError(f"the model at {model_dir} serves a non-finite {name!r} for a raw eval example")


def _first_eval_example(examples_artifacts) -> bytes | None:
    """One raw serialized example of the eval split, or None without examples."""
    if not examples_artifacts:
        return None
    split_uri = artifact_utils.get_split_uri(examples_artifacts, artifacts.EVAL_SPLIT)
    return records.first_record(sorted(fileio.glob(os.path.join(split_uri, "*"))))


class AtomicPushExecutor(pusher_executor.Executor):
    """Pushes blessed models to `<base_directory>/<version>`; other destinations as stock."""

    def Do(self, input_dict: dict[str, list[Any]], output_dict: dict[str, list[Any]], exec_properties: dict) -> None:
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination)
        if destination.WhichOneof("destination") != "filesystem":
            super().Do(input_dict, output_dict, exec_properties)
            return
        model_push = artifact_utils.get_single_instance(output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        if not self.CheckBlessing(input_dict):
            tfx_compat.mark_not_pushed(self, model_push)
            return
        model_path = self.GetModelPath(input_dict)
        base = destination.filesystem.base_directory
        example = _first_eval_example(input_dict.get(EXAMPLES_KEY))
        # The weights a warm start begins from, kept beside the version (trainer/warm_start.py).
        start = os.path.join(os.path.dirname(model_path.rstrip("/")), warm_start.WARM_START_DIR)
        if "://" in base:
            verify_serving(model_path, example)  # the copies are then checked to hold the same bytes
            extras = {warm_start.SERVED_STARTS_DIR: start} if fileio.isdir(start) else {}
            serving_path, created = object_push.publish(model_path, base, extras)
        else:
            serving_path, created = versions.publish(
                model_path, base, verify=lambda path: verify_serving(path, example)
            )
            if os.path.isdir(start):
                versions.keep_beside(start, base, warm_start.SERVED_STARTS_DIR, os.path.basename(serving_path))
        if created:
            logging.info("Model pushed to %s.", serving_path)
        else:
            logging.info("Model is identical to the pushed version %s; not pushing it again.", serving_path)
        io_utils.copy_dir(model_path, model_push.uri)  # the archive copy, as the stock Pusher keeps
        tfx_compat.mark_pushed(self, model_push, serving_path, os.path.basename(serving_path))
        model_push.set_int_custom_property(PUSHED_NEW_VERSION_PROPERTY, int(created))
