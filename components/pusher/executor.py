"""Pusher executor for filesystem destinations: strictly increasing versions, no duplicate pushes.

Two changes to the stock filesystem push:
- A model identical to the newest pushed version is not copied again. With
  unchanged data and code, a re-run re-evaluates the cached model against
  itself (the resolver now finds it as the latest blessed model) and the stock
  Pusher would push it again, making TensorFlow Serving reload the same model.
- Version numbers always increase (Unix time, or newest + 1). The stock Pusher
  found the folder taken on a second push within one second, copied nothing,
  and still marked the model as pushed.
"""

from __future__ import annotations

import os
import time
from typing import Any

from absl import logging
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

from components.pusher import versions

__all__ = ["Executor"]

_SAVED_MODEL_FILE = "saved_model.pb"


class Executor(pusher_executor.Executor):
    """Pushes blessed models to `<base_directory>/<version>`; other destinations as stock."""

    def Do(self, input_dict: dict[str, list[Any]], output_dict: dict[str, list[Any]], exec_properties: dict) -> None:
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination)
        if destination.WhichOneof("destination") != "filesystem":
            super().Do(input_dict, output_dict, exec_properties)
            return
        model_push = artifact_utils.get_single_instance(output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            return
        model_path = self.GetModelPath(input_dict)
        base = destination.filesystem.base_directory
        newest = versions.newest_version(base)
        if newest and versions.content_digest(newest) == versions.content_digest(model_path):
            logging.info("Model is identical to the pushed version %s; not pushing it again.", newest)
            serving_path = newest
        else:
            serving_path = os.path.join(base, str(versions.next_version(base, int(time.time()))))
            _copy_model(model_path, serving_path)
            logging.info("Model pushed to %s.", serving_path)
        io_utils.copy_dir(model_path, model_push.uri)  # the archive copy, as the stock Pusher keeps
        self._MarkPushed(model_push, pushed_destination=serving_path, pushed_version=os.path.basename(serving_path))


def _copy_model(model_path: str, serving_path: str) -> None:
    # saved_model.pb last: TensorFlow Serving takes its presence as "the model is complete".
    io_utils.copy_dir(model_path, serving_path, deny_regex_patterns=[r"saved_model\.pb"])
    saved_model = os.path.join(model_path, _SAVED_MODEL_FILE)
    if fileio.exists(saved_model):
        io_utils.copy_file(saved_model, os.path.join(serving_path, _SAVED_MODEL_FILE))
