"""ValidationGate: a TFX component that stops a run on anomalies, untrainable data and drift.

The names below load on first use: the pipeline's config imports this package's settings without TFX.
"""

from common import lazy

__all__ = ["DataValidationError", "DataValidationVerdict", "ValidationGate"]

__getattr__ = lazy.exports(
    __name__,
    {
        "DataValidationError": "components.validation_gate.executor",
        "DataValidationVerdict": "components.validation_gate.component",
        "ValidationGate": "components.validation_gate.component",
    },
)
