"""The only module that touches private names of the TFX 1.16 stack (TFX, tfx_bsl, tf_keras).

Everything else in this repository uses public APIs. Each function or class
below wraps one private name, says which, and why no public one does; its
check in tests/common/test_tfx_compat.py fails naming this module and what
changed when an upgrade moves or reshapes it. Upgrading TFX: run those checks
first (`make test PYTEST_ARGS=tests/common/test_tfx_compat.py`), then
`performance.fast_executors: false`, which runs TFX's own executors, is the
fallback while a change here is mended.

tfx_bsl is imported with the module (TFExampleRecordWithSource subclasses it); the rest
of the stack inside each function, so importing this module loads no TFX.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from tfx_bsl.tfxio import tf_example_record

__all__ = [
    "TFExampleRecordWithSource",
    "keras_save_traces_off",
    "make_beam_pipeline",
    "mark_not_pushed",
    "mark_pushed",
    "pipeline_run_id",
    "statistics_in_memory",
    "trainer_fn_args",
    "transform_hooks",
]


def make_beam_pipeline(executor):
    """The Beam pipeline a TFX Beam executor runs its work in, with the component's Beam arguments.

    `BaseBeamExecutor._make_beam_pipeline`: the protected hook every TFX Beam
    executor builds its pipeline with; no public equivalent exists.
    """
    return executor._make_beam_pipeline()


def pipeline_run_id(executor) -> str | None:
    """The pipeline run an executor belongs to (None outside an orchestrated run).

    `BaseExecutor._context`: TFX keeps the executor's context private and offers no accessor.
    """
    context = executor._context
    return context.pipeline_run_id if context is not None else None


def trainer_fn_args(executor, input_dict: dict, output_dict: dict, exec_properties: dict):
    """The FnArgs TFX's GenericExecutor hands run_fn (paths, steps, hyperparameters, data accessor).

    `GenericExecutor._GetFnArgs`: building them by hand would repeat TFX's
    handling of every optional input.
    """
    return executor._GetFnArgs(input_dict, output_dict, exec_properties)


def mark_pushed(executor, model_push, destination: str, version: str) -> None:
    """Records a push on the PushedModel artifact with TFX's own properties (`pushed`, destination, version).

    `pusher.Executor._MarkPushed`: the property names are private constants of TFX's Pusher.
    """
    executor._MarkPushed(model_push, pushed_destination=destination, pushed_version=version)


def mark_not_pushed(executor, model_push) -> None:
    """Records that nothing was pushed, as TFX's Pusher does (`pushed` = 0). `pusher.Executor._MarkNotPushed`."""
    executor._MarkNotPushed(model_push)


class TFExampleRecordWithSource(tf_example_record.TFExampleRecord):
    """tfx_bsl's TFExampleRecord (same arguments) whose Beam source, projections included, is `read(...)`.

    Subclasses define `read(file_pattern, schema, raw_record_column_name,
    batch_size) -> PTransform` producing Arrow RecordBatches. It reads
    `TFExampleRecord._file_pattern`, `_GetSchemaForDecoding()` and `_schema`
    and overrides `_ProjectImpl`: `Project` is final and wraps what
    `_ProjectImpl` returns, so a projection would otherwise fall back to
    tfx_bsl's per-record source.
    """

    def read(self, file_pattern, schema, raw_record_column_name: str | None, batch_size: int | None):
        raise NotImplementedError("subclasses of TFExampleRecordWithSource define read()")

    def BeamSource(self, batch_size: int | None = None):
        return self.read(self._file_pattern, self._GetSchemaForDecoding(), self.raw_record_column_name, batch_size)

    def _ProjectImpl(self, tensor_names):
        projected = super()._ProjectImpl(tensor_names)
        return type(self)(
            file_pattern=self._file_pattern,
            schema=projected._schema,
            raw_record_column_name=self.raw_record_column_name,
            telemetry_descriptors=self.telemetry_descriptors,
        )


@contextlib.contextmanager
def transform_hooks(
    make_tfxio: Callable[[Any, str, Any], Any],
    dataset_key: Callable[[str], str | None],
) -> Iterator[None]:
    """While TFX's Transform executor runs in this block, its processor reads and keys datasets through these.

    Args:
      make_tfxio: (TFX's TFXIO for a dataset, its file pattern, the schema) -> the TFXIO to read it with.
      dataset_key: A dataset's file pattern -> the key of its analyzer-cache entry, or None for TFX's.

    TFX's `transform.executor.Executor.Do` ends in `TransformProcessor().Transform(...)`,
    a module-level name, with no hook to pass another processor; the processor
    reads through `_CreateTFXIO` and keys the cache in `_MakeDatasetList`. So
    the module's `TransformProcessor` is a subclass overriding those two while
    the block runs, and the stock class afterwards. One component runs at a
    time in a TFX executor process, so nothing else sees the swap.
    """
    from tensorflow_transform.beam import analyzer_cache
    from tfx.components.transform import executor as transform_executor

    stock = transform_executor.TransformProcessor

    class _HookedProcessor(stock):
        def _CreateTFXIO(self, dataset, schema):
            return make_tfxio(super()._CreateTFXIO(dataset, schema), dataset.file_pattern, schema)

        def _MakeDatasetList(self, file_patterns, *args, **kwargs):
            datasets = super()._MakeDatasetList(file_patterns, *args, **kwargs)
            for dataset in datasets:
                key = dataset_key(dataset.file_pattern)
                if key and dataset.dataset_key.is_cached:
                    dataset.dataset_key = analyzer_cache.DatasetKey(key)
            return datasets

    transform_executor.TransformProcessor = _HookedProcessor
    try:
        yield
    finally:
        transform_executor.TransformProcessor = stock


def statistics_in_memory(record_batch, options):
    """TFDV's statistics (a DatasetFeatureStatisticsList) of one Arrow RecordBatch, in this process.

    `tensorflow_data_validation.statistics.stats_impl.generate_statistics_in_memory`:
    TFDV's own generators without a Beam pipeline; tfdv does not export it
    (its `generate_statistics_from_dataframe` calls it, but a DataFrame turns a
    missing value into NaN, where StatisticsGen's decoder leaves it missing).
    """
    from tensorflow_data_validation.statistics import stats_impl

    return stats_impl.generate_statistics_in_memory(record_batch, options)


@contextlib.contextmanager
def keras_save_traces_off() -> Iterator[None]:
    """`tf.saved_model.save` without tf_keras's traces of the tf_keras layers it saves.

    What `tf_keras.models.save_model(..., save_traces=False)` does, for the
    tf_keras Transform layer TFT hands the trainer (the model itself is Keras 3):
    `tf_keras.src.saving.legacy.saved_model.utils.keras_option_scope`, a
    module tf_keras does not export; `tf.saved_model.save` has no such option.
    """
    from tf_keras.src.saving.legacy.saved_model import utils  # noqa: TID251

    with utils.keras_option_scope(save_traces=False):
        yield
