"""A stock-style run_fn: it reads its data through `fn_args.data_accessor`, as TFX's own examples do.

Each worker writes what it read to `<model_run_dir>/accessor-<index>.json`;
the chief (index 0) exports a minimal SavedModel so the Trainer sees a model.
"""

from __future__ import annotations

import json
import os

REPORT_PREFIX = "accessor-"


def run_fn(fn_args) -> None:
    import tensorflow as tf
    import tensorflow_transform as tft
    from tfx_bsl.public import tfxio

    index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    # The Trainer's examples are ExampleGen's raw ones (Transform writes only the graph).
    schema = tft.TFTransformOutput(fn_args.transform_output).raw_metadata.schema
    dataset = fn_args.data_accessor.tf_dataset_factory(
        fn_args.train_files, tfxio.TensorFlowDatasetOptions(batch_size=16, num_epochs=1), schema
    )
    batch = next(iter(dataset))
    rows = int(next(iter(batch.values())).shape[0])
    tf.io.gfile.makedirs(fn_args.model_run_dir)
    with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, f"{REPORT_PREFIX}{index}.json"), "w") as stream:
        json.dump({"features": sorted(batch), "rows": rows}, stream)
    if index == 0:
        module = tf.Module()
        module.rows = tf.Variable(rows)
        tf.saved_model.save(module, fn_args.serving_model_dir)
