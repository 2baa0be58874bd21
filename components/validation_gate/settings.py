"""Typed drift thresholds of the validation gate: the file `validation.drift_thresholds` names.

Importable without TFX or TensorFlow, so the config loads fast. The thresholds
of a data set are measured, not chosen: `make bench-drift` writes the sample's
file and `python -m pipelines.init_dataset drift` writes one for your data
(docs/validation.md, "Drift").
"""

from __future__ import annotations

import pydantic

__all__ = ["DriftThresholds", "FeatureThresholds", "LabelThresholds"]


class _Settings(pydantic.BaseModel):
    # Not a number or infinite is never a setting: a YAML .nan or .inf is refused, naming the key.
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class FeatureThresholds(_Settings):
    """The largest change a span may show in one feature against the baseline.

    Attributes:
      distance: Numbers: the Kolmogorov-Smirnov distance between the two
        distributions of non-zero values (the largest gap between their CDFs,
        0 to 1). Strings: the L-infinity distance between the shares of their
        values (the largest change in one value's share).
      missing: The change in the share of examples without a value.
      zeros: Numbers: the change in the share of zeros among the values (a
        count, an amount or a duration often has many).
    """

    distance: float = pydantic.Field(gt=0, le=1, strict=False)
    missing: float = pydantic.Field(gt=0, le=1, strict=False)
    zeros: float = pydantic.Field(default=0.05, gt=0, le=1, strict=False)


class LabelThresholds(_Settings):
    """The largest change a span may show in its label against the baseline model's training data.

    Attributes:
      classes: Classification: the population stability index over the
        classes' shares, sum((p - q) ln(p / q)): a class falling from 22% to
        2% moves it far more than one moving from 15% to 27%.
      mean_shift: Regression: the change of the mean, in the baseline's standard deviations.
      spread: Regression: |log| of the ratio of the two standard deviations.
    """

    classes: float = pydantic.Field(default=0.1, gt=0, strict=False)
    mean_shift: float = pydantic.Field(default=0.25, gt=0, strict=False)
    spread: float = pydantic.Field(default=0.25, gt=0, strict=False)


class DriftThresholds(_Settings):
    """What a thresholds file holds: per feature and for the label, measured on the data.

    Attributes:
      features: By feature name; a model input not listed here gets `default`.
      default: For model inputs the file does not list.
      label: For the label.
      unchecked: Model inputs whose drift is not checked, each with the reason
        (e.g. a feature that follows the calendar when spans are cut by time);
        deriving the thresholds again keeps them.
      rows: The training rows of a span the thresholds were measured at: a smaller
        span's thresholds rise by its extra sampling noise (drift.py). None: they do not.
    """

    features: dict[str, FeatureThresholds] = {}
    default: FeatureThresholds = FeatureThresholds(distance=0.1, missing=0.05, zeros=0.05)
    label: LabelThresholds = LabelThresholds()
    unchecked: dict[str, str] = {}
    rows: pydantic.PositiveInt | None = None

    @pydantic.field_validator("unchecked")
    @classmethod
    def _reasons_are_given(cls, value: dict[str, str]) -> dict[str, str]:
        blank = sorted(name for name, reason in value.items() if not str(reason).strip())
        if blank:
            raise ValueError(f"give the reason each feature's drift is not checked: {blank} have none")
        return value
