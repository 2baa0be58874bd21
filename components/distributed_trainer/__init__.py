"""DistributedTrainer: multi-worker training launched from the pipeline."""

from components.distributed_trainer.component import DistributedTrainer

__all__ = ["DistributedTrainer"]
