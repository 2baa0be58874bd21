"""Tuner: KerasTuner search whose trials and TensorBoard HParams persist under the pipeline root."""

from components.tuner.component import Tuner

__all__ = ["Tuner"]
