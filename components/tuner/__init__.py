"""DistributedTunerExecutor, an executor swap for TFX's Tuner: trials kept under the pipeline root, parallel tuners."""

from components.tuner.executor import DistributedTunerExecutor

__all__ = ["DistributedTunerExecutor"]
