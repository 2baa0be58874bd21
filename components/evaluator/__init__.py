"""FastEvaluatorExecutor, an executor swap for TFX's Evaluator: the same EvalConfig, metrics over whole batches."""

from components.evaluator.executor import FastEvaluatorExecutor

__all__ = ["FastEvaluatorExecutor"]
