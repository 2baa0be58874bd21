"""ValidationGate: a TFX component that stops a run on data anomalies."""

from components.validation_gate.component import DataValidationVerdict, ValidationGate
from components.validation_gate.executor import DataValidationError

__all__ = ["DataValidationError", "DataValidationVerdict", "ValidationGate"]
