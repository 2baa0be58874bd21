"""SpanCachedTransform's executor: TFX's Transform run with our TransformProcessor."""

from __future__ import annotations

import json

import pytest
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_transform.beam import analyzer_cache
from tfx.components.transform import executor as tfx_transform_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx_bsl.tfxio import tf_example_record

from components.batched_tfxio import BatchedTFExampleRecord
from components.example_gen.executor import IDENTITIES_PROPERTY
from components.transform.executor import Executor, Processor, dataset_identities

GZIP = "tfrecords_gzip"  # examples_utils.get_file_format of ExampleGen's output


def _examples(tmp_path, identities: dict[str, str]) -> standard_artifacts.Examples:
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    examples.split_names = artifact_utils.encode_split_names(["train", "eval", "older1_train"])
    examples.set_string_custom_property(IDENTITIES_PROPERTY, json.dumps(identities))
    return examples


def _schema() -> schema_pb2.Schema:
    schema = schema_pb2.Schema()
    schema.feature.add(name="fare", type=schema_pb2.FLOAT)
    return schema


def test_tf_examples_are_read_in_batches(tmp_path):
    dataset = tfx_transform_executor._Dataset(str(tmp_path / "*"), GZIP, example_gen_pb2.FORMAT_TF_EXAMPLE, None)
    assert isinstance(Processor({})._CreateTFXIO(dataset, _schema()), BatchedTFExampleRecord)
    stock = tfx_transform_executor.TransformProcessor()._CreateTFXIO(dataset, _schema())
    assert type(stock) is tf_example_record.TFExampleRecord, "what the stock processor makes, and ours replaces"


def test_cached_datasets_are_keyed_by_their_split_identity(tmp_path):
    examples = _examples(tmp_path, {"older1_train": "span-1-train-3f2a"})
    identities = dataset_identities([examples])
    older, newest = (artifact_utils.get_split_uri([examples], split) + "/*" for split in ("older1_train", "train"))
    datasets = Processor(identities)._MakeDatasetList(
        [older, newest], [GZIP, GZIP], example_gen_pb2.FORMAT_TF_EXAMPLE, None, False
    )
    assert datasets[0].dataset_key == analyzer_cache.DatasetKey("span-1-train-3f2a")
    assert (
        datasets[1].dataset_key != analyzer_cache.DatasetKey("span-1-train-3f2a") and datasets[1].dataset_key.is_cached
    )


def test_tfx_transform_runs_with_our_processor_and_gets_the_stock_one_back(tmp_path, monkeypatch):
    made = []

    def stock_do(self, input_dict, output_dict, exec_properties):
        made.append(tfx_transform_executor.TransformProcessor())  # what TFX's Do makes, by that name
        raise RuntimeError("analysis failed")

    stock = tfx_transform_executor.TransformProcessor
    monkeypatch.setattr(tfx_transform_executor.Executor, "Do", stock_do)
    examples = _examples(tmp_path, {"train": "span-2-train-9c1d"})
    with pytest.raises(RuntimeError, match="analysis failed"):
        Executor().Do({standard_component_specs.EXAMPLES_KEY: [examples]}, {}, {})
    (processor,) = made
    assert isinstance(processor, Processor) and processor._identities == dataset_identities([examples])
    assert tfx_transform_executor.TransformProcessor is stock, "restored, also after a failure"
