"""A custom distributed training loop around a Keras 3 model.

Keras 3 `Model.fit` fails under MultiWorkerMirroredStrategy (keras-team/keras#20585),
so training runs `strategy.run` inside a `tf.function` under any strategy: the
per-replica loss is scaled to the global batch, gradients are all-reduced by the
optimiser, metrics see every replica's predictions, checkpoints are written
every N steps and a restarted run resumes from the latest one.

Every worker runs the same code. Only the chief writes checkpoints and
summaries to the shared folders; the others write to private scratch folders
that are removed, since saving can involve collective ops all workers must join.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator

import keras
import tensorflow as tf
from absl import logging

from trainer.heads import Head
from trainer.hyperparameters import Hyperparameters
from trainer.settings import TrainingSettings
from trainer.strategy import ClusterRole

__all__ = ["EvalMetrics", "TrainingLoop", "TrainingResult", "scratch_dir", "steps_to_run"]

# A hook called for every step with its number, after the call that ran it; tests use it to interrupt training.
StepHook = Callable[[int], None]
DatasetFn = Callable[[tf.distribute.InputContext], tf.data.Dataset]


@dataclasses.dataclass(frozen=True)
class EvalMetrics:
    """Metrics over the whole eval split: the loss and the head's metrics (AUC, accuracy, RMSE ...)."""

    loss: float
    num_examples: int
    metrics: dict[str, float]


@dataclasses.dataclass(frozen=True)
class TrainingResult:
    """What a training run did."""

    final_step: int
    resumed_from_step: int
    num_replicas: int
    examples_per_second: float


def steps_to_run(step: int, settings: TrainingSettings) -> int:
    """Steps for the next graph call from `step`: at most steps_per_execution, ending on the next log or
    checkpoint step or the last one, so those steps are logged and saved as if run one by one."""
    boundaries = [(step // every + 1) * every for every in (settings.log_every_steps, settings.checkpoint_every_steps)]
    return min(settings.steps_per_execution, *(boundary - step for boundary in boundaries), settings.train_steps - step)


def scratch_dir(shared_dir: str, role: ClusterRole) -> str:
    """Where this worker writes: the shared folder for the chief, a fresh local temp folder otherwise.

    The caller deletes a non-chief's folder after writing.
    """
    if role.is_chief:
        return shared_dir
    return tempfile.mkdtemp(prefix=f"{role.worker_id}-")


class TrainingLoop:
    """Builds the model under a strategy, trains it with checkpoints, evaluates it."""

    def __init__(
        self,
        strategy: tf.distribute.Strategy,
        role: ClusterRole,
        settings: TrainingSettings,
        build_model: Callable[[], keras.Model],
        hparams: Hyperparameters,
        checkpoint_dir: str,
        head: Head,
    ):
        self.strategy, self.role, self.settings = strategy, role, settings
        self.checkpoint_dir, self.head = checkpoint_dir, head
        keras.utils.set_random_seed(settings.seed)
        with strategy.scope():
            self.model = build_model()
            self.optimizer = keras.optimizers.Adam(learning_rate=hparams.learning_rate)
            # Built now, not at the first step, so a checkpoint restores its slots.
            self.optimizer.build(self.model.trainable_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        # Host-side metrics, fed with the outputs of all replicas.
        self._train_metrics = head.new_metrics()
        self._checkpoint = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer, step=self.step)

    def assign_weights(self, values: dict) -> None:
        """Sets the model's variables by path (a warm start); before training, on every worker alike."""
        for variable in self.model.weights:
            if variable.path in values:
                variable.assign(values[variable.path])

    def restore(self) -> int:
        """Restores the latest checkpoint in the shared folder, if any; returns its step.

        Raises:
          RuntimeError: If the checkpoint does not fit the model (a folder from
            another training put there by hand), naming the folder to remove.
        """
        latest = tf.train.latest_checkpoint(self.checkpoint_dir)
        if latest:
            try:
                self._checkpoint.restore(latest).assert_existing_objects_matched()
            except AssertionError as error:
                raise RuntimeError(
                    f"the checkpoint {latest} does not fit this model ({error}); its folder is keyed by the "
                    f"training's definition, so it was not written by this training: remove {self.checkpoint_dir}"
                ) from None
        return int(self.step.numpy())

    def fit(self, dataset_fn: DatasetFn, log_dir: str, on_step: StepHook | None = None) -> TrainingResult:
        """Trains up to `settings.train_steps`, resuming from the latest checkpoint.

        Args:
          dataset_fn: Builds one input pipeline's dataset from its InputContext.
          log_dir: Where the chief writes TensorBoard scalars.
          on_step: Called for each step with its number, after the graph call that ran it.
        """
        resumed_from = self.restore()
        if resumed_from:
            logging.info("Resumed from the checkpoint at step %d in %s", resumed_from, self.checkpoint_dir)
        logging.info(
            "Training from step %d to %d on %d replicas",
            resumed_from,
            self.settings.train_steps,
            self.strategy.num_replicas_in_sync,
        )
        iterator = iter(self.strategy.distribute_datasets_from_function(dataset_fn))
        manager = tf.train.CheckpointManager(
            self._checkpoint, scratch_dir(self.checkpoint_dir, self.role), max_to_keep=3
        )
        train_steps = self._make_train_steps()
        window_start, window_steps, total_time, total_steps = time.perf_counter(), 0, 0.0, 0
        step = int(self.step.numpy())
        with self._summary_writer(log_dir).as_default():
            while step < self.settings.train_steps:
                count = steps_to_run(step, self.settings)
                loss = train_steps(iterator, tf.constant(count, tf.int32))
                step = int(self.step.numpy())
                window_steps += count
                if step % self.settings.log_every_steps == 0 or step == self.settings.train_steps:
                    elapsed = time.perf_counter() - window_start
                    rate = window_steps * self.settings.batch_size / elapsed
                    self._write_train_scalars(step, float(loss), rate)
                    total_time, total_steps = total_time + elapsed, total_steps + window_steps
                    window_start, window_steps = time.perf_counter(), 0
                if step % self.settings.checkpoint_every_steps == 0 or step == self.settings.train_steps:
                    self._save(manager, step)
                if on_step:
                    for done in range(step - count + 1, step + 1):
                        on_step(done)
        rate = total_steps * self.settings.batch_size / total_time if total_time else 0.0
        return TrainingResult(int(self.step.numpy()), resumed_from, self.strategy.num_replicas_in_sync, rate)

    def evaluate(self, dataset: tf.data.Dataset, log_dir: str | None = None) -> EvalMetrics:
        """The loss and the head's metrics over one pass of `dataset`, on this worker alone.

        Every worker evaluates the whole split, so all agree on the result
        without collective ops that uneven shards could deadlock.
        """
        predict = tf.function(lambda features: self.model(features, training=False))
        metrics, loss_sum, count = self.head.new_metrics(), 0.0, 0
        for features, labels in dataset:
            outputs = predict(features)
            self.head.update_metrics(metrics, labels, outputs)
            loss_sum += float(tf.reduce_sum(self.head.per_example_loss(labels, outputs)))
            count += int(tf.shape(labels)[0])
        result = EvalMetrics(loss_sum / max(count, 1), count, self.head.result(metrics))
        if log_dir:
            with self._summary_writer(log_dir).as_default():
                step = int(self.step.numpy())
                for name, value in {"loss": result.loss, **result.metrics}.items():
                    tf.summary.scalar(name, value, step=step)
        return result

    def _make_train_steps(self) -> Callable[[Iterator, tf.Tensor], tf.Tensor]:
        global_batch = self.settings.batch_size

        def replica_step(features, labels):
            with tf.GradientTape() as tape:
                outputs = self.model(features, training=True)
                per_example = self.head.per_example_loss(labels, outputs)
                # Scaled to the global batch: summing over replicas gives the mean.
                loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
            gradients = tape.gradient(loss, self.model.trainable_variables)
            # Embedding gradients come as IndexedSlices, which MultiWorkerMirroredStrategy
            # exchanges with one all-gather per variable; the tables are small, so dense
            # gradients in one all-reduce are 4x faster with 2 workers (benchmarks/multi_worker.py).
            gradients = [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in gradients]
            self.optimizer.apply_gradients(zip(gradients, self.model.trainable_variables, strict=True))
            return loss, labels, outputs

        def train_step(iterator):
            features, labels = next(iterator)
            loss, labels, outputs = self.strategy.run(replica_step, args=(features, labels))
            all_labels = self.strategy.gather(labels, axis=0)
            all_outputs = self.strategy.gather(outputs, axis=0)
            self.head.update_metrics(self._train_metrics, all_labels, all_outputs)
            self.step.assign_add(1)
            return self.strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None)

        @tf.function
        def train_steps(iterator, count):
            """`count` steps in one call (a graph loop); returns the last step's loss."""
            loss = tf.zeros([], tf.float32)
            for _ in tf.range(count):
                loss = train_step(iterator)
            return loss

        return train_steps

    def _write_train_scalars(self, step: int, loss: float, examples_per_second: float) -> None:
        tf.summary.scalar("loss", loss, step=step)
        for name, metric in self._train_metrics.items():
            tf.summary.scalar(name, metric.result(), step=step)
        # Under MultiWorkerMirroredStrategy the Keras variable wraps a MirroredVariable: read it as a tensor.
        tf.summary.scalar("learning_rate", tf.convert_to_tensor(self.optimizer.learning_rate.value), step=step)
        tf.summary.scalar("examples_per_second", examples_per_second, step=step)
        for metric in self._train_metrics.values():
            metric.reset_state()

    def _save(self, manager: tf.train.CheckpointManager, step: int) -> None:
        manager.save(checkpoint_number=step)
        if not self.role.is_chief:
            shutil.rmtree(manager.directory, ignore_errors=True)

    def _summary_writer(self, log_dir: str) -> tf.summary.SummaryWriter:
        if self.role.is_chief:
            return tf.summary.create_file_writer(log_dir)
        return tf.summary.create_noop_writer()
