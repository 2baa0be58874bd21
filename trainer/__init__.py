"""Model code run by the Transform, Tuner and Trainer components.

Keras: importing tensorflow_transform sets TF_USE_LEGACY_KERAS=1 when it is
unset, and `tf.keras` is resolved on first access, so whether `tf.keras` is
Keras 2 (tf_keras) or Keras 3 in a process depends on import order. We set the
flag here, before anything reads `tf.keras`, so every process agrees:
`tf.keras` is tf_keras for TFT's and TFMA's internals, and our code uses Keras 3
through `import keras` only (ruff bans `tf.keras` in this repo).
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
