"""The model's hyperparameters: a small typed record, importable without TensorFlow."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pydantic

__all__ = ["Hyperparameters"]


class Hyperparameters(pydantic.BaseModel):
    """Everything that shapes the model and its optimiser; the Tuner searches over these."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True, strict=True)

    learning_rate: float = pydantic.Field(default=3e-3, gt=0)
    num_layers: int = pydantic.Field(default=2, ge=0)
    units: int = pydantic.Field(default=64, ge=1)
    embedding_dim: int = pydantic.Field(default=8, ge=1)
    dropout: float = pydantic.Field(default=0.1, ge=0, lt=1)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Hyperparameters:
        """Builds from a plain mapping, e.g. KerasTuner's best `HyperParameters.values`.

        Raises:
          ValueError: On an unknown name or a value of the wrong type, naming it.
        """
        try:
            return cls.model_validate(dict(values))
        except pydantic.ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
            raise ValueError(f"invalid hyperparameters: {problems}") from None
