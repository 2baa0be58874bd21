"""Each private name common/tfx_compat.py relies on, checked against the installed TFX stack.

Run these first after an upgrade: a failure names the wrapper to mend and what changed.
"""

from __future__ import annotations

import inspect
import json

import apache_beam as beam
import pytest
import tensorflow as tf
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.components.pusher import executor as pusher_executor
from tfx.components.trainer import executor as trainer_executor
from tfx.components.transform import executor as transform_executor
from tfx.dsl.components.base import base_beam_executor, base_executor
from tfx.proto import example_gen_pb2, trainer_pb2
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import proto_utils

from common import tfx_compat

GZIP = "tfrecords_gzip"  # examples_utils.get_file_format of ExampleGen's output


def _changed(wrapper: str, what: str) -> str:
    return f"TFX changed what common/tfx_compat.py's {wrapper} relies on: {what}; mend the wrapper"


def _schema() -> schema_pb2.Schema:
    schema = schema_pb2.Schema()
    schema.feature.add(name="fare", type=schema_pb2.FLOAT)
    schema.feature.add(name="company", type=schema_pb2.BYTES)
    return schema


class _BeamExecutor(base_beam_executor.BaseBeamExecutor):
    def Do(self, input_dict, output_dict, exec_properties):  # pragma: no cover - never run
        raise NotImplementedError


def test_make_beam_pipeline_builds_a_pipeline_with_the_components_beam_args():
    context = _BeamExecutor.Context(beam_pipeline_args=["--direct_num_workers=1"], tmp_dir="unused", unique_id="1")
    pipeline = tfx_compat.make_beam_pipeline(_BeamExecutor(context))
    assert isinstance(pipeline, beam.Pipeline), _changed("make_beam_pipeline", "_make_beam_pipeline()'s result")
    assert pipeline.options.get_all_options()["direct_num_workers"] == 1, _changed(
        "make_beam_pipeline", "the beam args no longer reach the pipeline"
    )


class _Executor(base_executor.BaseExecutor):
    def Do(self, input_dict, output_dict, exec_properties):  # pragma: no cover - never run
        raise NotImplementedError


def test_pipeline_run_id_reads_the_executors_context():
    context = base_executor.BaseExecutor.Context(pipeline_run_id="run-7", tmp_dir="unused", unique_id="1")
    assert tfx_compat.pipeline_run_id(_Executor(context)) == "run-7", _changed("pipeline_run_id", "_context")
    assert tfx_compat.pipeline_run_id(_Executor()) is None


def test_trainer_fn_args_are_tfxs(tmp_path):
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
    model, model_run = standard_artifacts.Model(), standard_artifacts.ModelRun()
    model.uri, model_run.uri = str(tmp_path / "model"), str(tmp_path / "model_run")
    exec_properties = {
        "train_args": proto_utils.proto_to_json(trainer_pb2.TrainArgs(num_steps=7, splits=["train"])),
        "eval_args": proto_utils.proto_to_json(trainer_pb2.EvalArgs(splits=["eval"])),
        "custom_config": json.dumps({"settings": {}}),
    }
    fn_args = tfx_compat.trainer_fn_args(
        trainer_executor.GenericExecutor(),
        {"examples": [examples]},
        {"model": [model], "model_run": [model_run]},
        exec_properties,
    )
    assert fn_args.train_steps == 7 and fn_args.custom_config == {"settings": {}}, _changed("trainer_fn_args", "FnArgs")
    assert fn_args.serving_model_dir.startswith(model.uri) and fn_args.model_run_dir == model_run.uri
    assert fn_args.train_files == [str(tmp_path / "examples" / "Split-train" / "*")]


def test_mark_pushed_sets_the_properties_tfx_and_the_run_summary_read():
    executor, pushed = pusher_executor.Executor(), standard_artifacts.PushedModel()
    tfx_compat.mark_pushed(executor, pushed, "/serving/12", "12")
    properties = {name: pushed.get_custom_property(name) for name in ("pushed", "pushed_destination", "pushed_version")}
    assert properties == {"pushed": 1, "pushed_destination": "/serving/12", "pushed_version": "12"}, _changed(
        "mark_pushed", f"_MarkPushed wrote {dict(pushed.mlmd_artifact.custom_properties)}"
    )
    tfx_compat.mark_not_pushed(executor, pushed)
    assert pushed.get_custom_property("pushed") == 0, _changed("mark_not_pushed", "_MarkNotPushed")


class _RecordingSource(tfx_compat.TFExampleRecordWithSource):
    calls: list = []

    def read(self, file_pattern, schema, raw_record_column_name, batch_size):
        _RecordingSource.calls.append((file_pattern, schema, raw_record_column_name, batch_size))
        return beam.Create([])


def test_a_tf_example_record_with_its_own_source_keeps_it_when_projected():
    _RecordingSource.calls = []
    tfxio = _RecordingSource(file_pattern="/data/*.gz", schema=_schema(), telemetry_descriptors=["tests"])
    tfxio.BeamSource(16)
    projected = tfxio.Project(["company"])
    projected.BeamSource(32)
    (whole, part) = _RecordingSource.calls
    assert list(whole[0]) == list(part[0]) == ["/data/*.gz"] and (whole[3], part[3]) == (16, 32), _changed(
        "TFExampleRecordWithSource", "_file_pattern, or how Project calls _ProjectImpl"
    )
    assert [feature.name for feature in whole[1].feature] == ["fare", "company"]
    assert [feature.name for feature in part[1].feature] == ["company"], _changed(
        "TFExampleRecordWithSource", "_ProjectImpl's schema (_schema) or _GetSchemaForDecoding"
    )


def test_transform_hooks_reach_the_processor_tfxs_executor_makes(tmp_path):
    do_source = inspect.getsource(transform_executor.Executor.Do)
    assert "TransformProcessor().Transform(" in do_source, _changed(
        "transform_hooks", "Executor.Do no longer makes its processor by the module-level name TransformProcessor"
    )
    stock = transform_executor.TransformProcessor
    made_for = []

    def make_tfxio(tfxio, file_pattern, schema):
        made_for.append((type(tfxio).__name__, file_pattern))
        return "our tfxio"

    older, newest = str(tmp_path / "Split-older1_train" / "*"), str(tmp_path / "Split-train" / "*")
    keys = {older: "span-1-abc-train-p"}
    with tfx_compat.transform_hooks(make_tfxio, keys.get):
        processor = transform_executor.TransformProcessor()
        dataset = transform_executor._Dataset(newest, GZIP, example_gen_pb2.FORMAT_TF_EXAMPLE, None)
        assert processor._CreateTFXIO(dataset, _schema()) == "our tfxio", _changed("transform_hooks", "_CreateTFXIO")
        datasets = processor._MakeDatasetList(
            [older, newest], [GZIP, GZIP], example_gen_pb2.FORMAT_TF_EXAMPLE, None, False
        )
    assert made_for == [("TFExampleRecord", newest)], _changed("transform_hooks", "what _CreateTFXIO makes")
    by_pattern = {dataset.file_pattern: dataset.dataset_key for dataset in datasets}
    from tensorflow_transform.beam import analyzer_cache

    assert by_pattern[older] == analyzer_cache.DatasetKey("span-1-abc-train-p"), _changed(
        "transform_hooks", "_MakeDatasetList or _Dataset.dataset_key"
    )
    assert by_pattern[newest].is_cached and by_pattern[newest] != by_pattern[older]
    assert transform_executor.TransformProcessor is stock


def test_transform_hooks_restore_the_stock_processor_after_a_failure():
    stock = transform_executor.TransformProcessor
    with pytest.raises(RuntimeError, match="analysis failed"):
        with tfx_compat.transform_hooks(lambda tfxio, pattern, schema: tfxio, lambda pattern: None):
            assert transform_executor.TransformProcessor is not stock
            raise RuntimeError("analysis failed")
    assert transform_executor.TransformProcessor is stock


def test_statistics_in_memory_are_tfdvs_of_the_decoded_examples():
    import tensorflow_data_validation as tfdv
    from tfx_bsl.coders import example_coder

    examples = []
    for value in (1.0, 2.0, None, 4.0):
        example = tf.train.Example()
        if value is not None:
            example.features.feature["x"].float_list.value.append(value)
        examples.append(example.SerializeToString())
    batch = example_coder.ExamplesToRecordBatchDecoder().DecodeBatch(examples)
    (dataset,) = tfx_compat.statistics_in_memory(batch, tfdv.StatsOptions()).datasets
    (feature,) = dataset.features
    assert dataset.num_examples == 4 and feature.num_stats.common_stats.num_missing == 1, _changed(
        "statistics_in_memory", "stats_impl.generate_statistics_in_memory"
    )
    assert feature.num_stats.mean == pytest.approx(7 / 3)


def test_keras_save_traces_off_turns_tf_keras_traces_off_for_the_block():
    from tf_keras.src.saving.legacy.saved_model import utils  # noqa: TID251 - what the wrapper relies on

    assert utils.should_save_traces()
    with tfx_compat.keras_save_traces_off():
        assert not utils.should_save_traces(), _changed("keras_save_traces_off", "keras_option_scope")
    assert utils.should_save_traces()
    assert tf.saved_model.SaveOptions  # the save it applies to
