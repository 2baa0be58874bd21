"""BatchEvaluator: TFX's Evaluator contract, with the metrics computed over whole batches."""

from components.batch_evaluator.component import BatchEvaluator

__all__ = ["BatchEvaluator"]
