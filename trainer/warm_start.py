"""Warm starts: a new model starts from the served model's weights, vocabulary changes included.

Keras 3 cannot load a TensorFlow SavedModel as a model, so the export also
writes `warm_start/` beside the SavedModel: every weight as a NumPy array
(by variable path) and a description of the network (hyperparameters,
inputs, head) with the vocabulary of each categorical input and the class
names. The Pusher keeps it with each version (`<serving root>/.warm_start/<version>`).

`plan` maps the saved weights onto a new model. The same architecture is
required (hyperparameters, inputs by name and kind, head); vocabularies may
change: a category's row moves to its new id, a new category keeps its fresh
initialisation, the out-of-vocabulary row is kept. A multiclass head maps its
output columns by class name the same way. Anything else starts cold, and the
returned reason says why.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from common import serving_root as serving_root_lib

__all__ = [
    "META_FILE",
    "SERVED_STARTS_DIR",
    "WARM_START_DIR",
    "WEIGHTS_FILE",
    "SavedStart",
    "describe",
    "load",
    "newest_served_start",
    "plan",
    "save",
]

WARM_START_DIR = "warm_start"
# Under the serving root, one folder per pushed version; hidden, so TensorFlow Serving ignores it.
SERVED_STARTS_DIR = ".warm_start"
WEIGHTS_FILE = "weights.npz"
META_FILE = "network.json"
_OUTPUT_LAYERS = ("deep_output", "numeric_wide")


@dataclasses.dataclass(frozen=True)
class SavedStart:
    """A model's weights and the description they belong to."""

    meta: dict[str, Any]
    weights: dict[str, np.ndarray]


def describe(hparams, inputs, head, vocabularies: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """What the weights mean: architecture, and the token of every row and class of every column."""
    return {
        "hparams": hparams.model_dump(),
        "inputs": [{"name": item.name, "categorical": item.is_categorical} for item in inputs],
        "head": type(head).__name__,
        "num_outputs": head.num_outputs,
        "classes": list(getattr(head, "class_names", ())),
        "vocabularies": {name: list(tokens) for name, tokens in vocabularies.items()},
    }


def save(model, meta: dict[str, Any], directory: str) -> None:
    """Writes the weights and their description (on the chief, after training)."""
    import tensorflow as tf

    tf.io.gfile.makedirs(directory)
    arrays = {variable.path: np.asarray(variable.numpy()) for variable in model.weights}
    buffer = io.BytesIO()  # np.savez seeks back in its file; gfile's writers cannot
    np.savez(buffer, **arrays)
    with tf.io.gfile.GFile(os.path.join(directory, WEIGHTS_FILE), "wb") as stream:
        stream.write(buffer.getvalue())
    with tf.io.gfile.GFile(os.path.join(directory, META_FILE), "w") as stream:
        stream.write(json.dumps(meta, indent=1))


def newest_served_start(serving_root: str) -> str | None:
    """The warm-start folder of the newest published version that has one, or None.

    Only published versions count (common/serving_root.py): in object storage, what a killed push left is ignored.
    """
    served = set(serving_root_lib.numbered_versions(serving_root))
    versions = [
        version for version in serving_root_lib.kept_beside(serving_root, SERVED_STARTS_DIR) if version in served
    ]
    return os.path.join(serving_root, SERVED_STARTS_DIR, max(versions, key=int)) if versions else None


def load(directory: str) -> SavedStart:
    """Reads what `save` wrote."""
    import tensorflow as tf

    with tf.io.gfile.GFile(os.path.join(directory, META_FILE)) as stream:
        meta = json.loads(stream.read())
    with tf.io.gfile.GFile(os.path.join(directory, WEIGHTS_FILE), "rb") as stream:
        archive = np.load(io.BytesIO(stream.read()))
        weights = {name: archive[name] for name in archive.files}
    return SavedStart(meta, weights)


def _incompatibility(saved: dict[str, Any], new: dict[str, Any]) -> str | None:
    if saved["head"] != new["head"]:
        return f"the task changed ({saved['head']} -> {new['head']})"
    changed = {
        key: (saved["hparams"][key], value)
        for key, value in new["hparams"].items()
        if saved["hparams"].get(key) != value
    }
    architectural = {key: change for key, change in changed.items() if key != "learning_rate"}
    if architectural:
        details = ", ".join(f"{key} {old} -> {value}" for key, (old, value) in sorted(architectural.items()))
        return f"the architecture changed ({details})"
    old_inputs = {item["name"]: item["categorical"] for item in saved["inputs"]}
    new_inputs = {item["name"]: item["categorical"] for item in new["inputs"]}
    if old_inputs != new_inputs:
        added, removed = sorted(set(new_inputs) - set(old_inputs)), sorted(set(old_inputs) - set(new_inputs))
        kinds = sorted(name for name in set(old_inputs) & set(new_inputs) if old_inputs[name] != new_inputs[name])
        return f"the inputs changed (added {added}, removed {removed}, kind changed {kinds})"
    if saved["num_outputs"] != new["num_outputs"] and not new["classes"]:
        return f"the output width changed ({saved['num_outputs']} -> {new['num_outputs']})"
    return None


def _index_map(old: Sequence[str], new: Sequence[str], oov: int) -> tuple[list[int], list[int]]:
    """(new positions, old positions) of the rows both have: shared tokens, then the OOV rows."""
    where = {token: index for index, token in enumerate(old)}
    pairs = [(index, where[token]) for index, token in enumerate(new) if token in where]
    pairs += [(len(new) + k, len(old) + k) for k in range(oov)]
    return [new_index for new_index, _ in pairs], [old_index for _, old_index in pairs]


def plan(saved: SavedStart, model, new_meta: dict[str, Any]) -> tuple[dict[str, np.ndarray], str]:
    """New values for the model's variables from the saved start, and what was done (or why not).

    Returns:
      ({variable path: value}, message). An empty mapping means: start cold;
      the message then says why.
    """
    reason = _incompatibility(saved.meta, new_meta)
    if reason:
        return {}, f"starting cold: {reason}"
    old_classes, new_classes = saved.meta["classes"], new_meta["classes"]
    columns = _index_map(old_classes, new_classes, 0) if new_classes and old_classes != new_classes else None
    assignments, grown = {}, []
    for variable in model.weights:
        if variable.path not in saved.weights:
            return {}, f"starting cold: the saved model has no variable {variable.path}"
        old, shape = saved.weights[variable.path], tuple(variable.shape)
        layer = variable.path.split("/")[0]
        input_name = layer.rsplit("_", 1)[0] if layer.endswith(("_embedding", "_wide")) else None
        old_vocabulary = saved.meta["vocabularies"].get(input_name) if input_name else None
        new_vocabulary = new_meta["vocabularies"].get(input_name) if input_name else None
        rows = cols = None
        if old_vocabulary is not None and new_vocabulary is not None and old_vocabulary != new_vocabulary:
            rows = _index_map(old_vocabulary, new_vocabulary, oov=old.shape[0] - len(old_vocabulary))
            if layer.endswith("_embedding"):
                grown.append(f"{input_name} {len(old_vocabulary)} -> {len(new_vocabulary)}")
        if columns is not None and (layer in _OUTPUT_LAYERS or layer.endswith("_wide")):
            cols = columns
        if rows is None and cols is None:
            if tuple(old.shape) != shape:
                return {}, f"starting cold: {variable.path} has shape {old.shape}, the new model {shape}"
            assignments[variable.path] = old
            continue
        # Fresh values, with every row (category) and column (class) the saved model knew copied over.
        value = np.array(variable.numpy())
        index_new, index_old = [], []
        for axis, mapping in enumerate((rows, cols) if old.ndim == 2 else (cols,)):
            if mapping is None and old.shape[axis] != shape[axis]:
                return {}, f"starting cold: {variable.path} has shape {old.shape}, the new model {shape}"
            if mapping is None:
                index_new.append(np.arange(shape[axis]))
                index_old.append(np.arange(old.shape[axis]))
            else:
                index_new.append(np.asarray(mapping[0], dtype=int))
                index_old.append(np.asarray(mapping[1], dtype=int))
        value[np.ix_(*index_new)] = old[np.ix_(*index_old)]
        assignments[variable.path] = value
    message = "warm start from the served model"
    if grown:
        message += f"; vocabularies remapped by token: {', '.join(grown)}"
    if columns is not None:
        message += f"; classes {old_classes} -> {new_classes}"
    return assignments, message
