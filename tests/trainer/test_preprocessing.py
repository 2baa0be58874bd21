"""preprocessing_fn on real rows (the taxi sample) and on small in-memory data sets of each task type."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from tests.conftest import serialized_examples, taxi_task
from trainer import data, features, model
from trainer.preprocessing import MISSING_TOKEN, preprocessing_fn
from trainer.settings import TaskSettings


@pytest.fixture(scope="module")
def transform_output(transformed):
    import tensorflow_transform as tft

    return tft.TFTransformOutput(transformed.transform_output)


def _transform(transform_output, rows, drop=()):
    spec = {k: v for k, v in transform_output.raw_feature_spec().items() if k not in drop}
    raw = tf.io.parse_example(tf.constant(serialized_examples(rows, drop)), spec)
    return {name: value.numpy() for name, value in transform_output.transform_raw_features(raw).items()}


def _row(**values: str) -> dict[str, str]:
    base = {
        "pickup_community_area": "8",
        "fare": "10.0",
        "trip_start_month": "5",
        "trip_start_hour": "19",
        "trip_start_day": "6",
        "trip_start_timestamp": "1400269500",
        "pickup_latitude": "41.89",
        "pickup_longitude": "-87.63",
        "dropoff_latitude": "41.92",
        "dropoff_longitude": "-87.65",
        "trip_miles": "2.0",
        "pickup_census_tract": "",
        "dropoff_census_tract": "",
        "payment_type": "Credit Card",
        "company": "Taxi Affiliation Services",
        "trip_seconds": "600",
        "dropoff_community_area": "7",
        "tips": "0.0",
    }
    return {**base, **values}


def test_label_is_tips_over_a_fifth_of_the_fare(transform_output):
    rows = [
        _row(fare="10.0", tips="2.5"),
        _row(fare="10.0", tips="2.0"),
        _row(fare="0.0", tips="1.0"),
        _row(fare="10.0", tips="0.0"),
    ]
    out = _transform(transform_output, rows)
    assert out[features.LABEL_KEY].tolist() == [1, 0, 1, 0]


def test_missing_coordinates_get_bucket_zero_and_present_ones_a_real_bucket(transform_output):
    out = _transform(transform_output, [_row(dropoff_latitude=""), _row()])
    buckets = out[features.transformed_name("dropoff_latitude")]
    assert buckets[0] == 0
    assert 1 <= buckets[1] <= taxi_task().feature("dropoff_latitude").num_buckets


def test_a_missing_optional_number_takes_the_mean_and_says_so(transform_output):
    out = _transform(transform_output, [_row(trip_seconds=""), _row()])
    assert out[features.transformed_name("trip_seconds")][0] == 0.0
    assert out[features.presence_name("trip_seconds")].tolist() == [0.0, 1.0]


def test_unseen_category_maps_to_the_oov_bucket(transform_output):
    name = "company"
    vocabulary_size = transform_output.vocabulary_size_by_name(features.vocabulary_name(name))
    out = _transform(transform_output, [_row(company="A Company Founded Tomorrow"), _row()])
    ids = out[features.transformed_name(name)]
    assert ids[0] == vocabulary_size  # the single OOV bucket
    assert 0 <= ids[1] < vocabulary_size


def test_missing_category_is_its_own_token_not_the_oov_bucket(transform_output):
    out = _transform(transform_output, [_row(company=""), _row(company=""), _row(company="Never Seen Co")])
    ids = out[features.transformed_name("company")]
    assert ids[0] == ids[1]
    vocabulary = transform_output.vocabulary_by_name(features.vocabulary_name("company"))
    assert ids[0] < len(vocabulary) and vocabulary[ids[0]] == MISSING_TOKEN.encode(), "missing is in the vocabulary"
    assert ids[0] != ids[2]


def test_numerics_are_scaled_on_the_training_split(transformed, transform_output):
    files = tf.io.gfile.glob(transformed.train_files)
    transform = data.transformer(transform_output)
    fares = np.concatenate(
        [
            transform(batch)[features.transformed_name("fare")].numpy()
            for batch in tf.data.TFRecordDataset(files, compression_type="GZIP").batch(1000)
        ]
    )
    assert abs(fares.mean()) < 0.01 and abs(fares.std() - 1.0) < 0.01


def test_serving_requests_without_the_label_transform_all_model_inputs(transform_output):
    out = _transform(transform_output, [_row()], drop=("tips",))
    assert features.LABEL_KEY not in out
    sizes = {name: 1 for name in out}
    assert {item.name for item in model.model_inputs(taxi_task(), sizes)} <= set(out)


# --- small data sets of each task type, analysed in memory ----------------------------------------

REQUIRED = "presence { min_fraction: 1.0 } shape { dim { size: 1 } }"
SCHEMA = f"""
feature {{ name: "x" type: FLOAT {REQUIRED} }}
feature {{ name: "maybe" type: FLOAT value_count {{ min: 0 max: 1 }} }}
feature {{ name: "colour" type: BYTES {REQUIRED} }}
feature {{ name: "y" type: FLOAT {REQUIRED} }}
feature {{ name: "species" type: BYTES {REQUIRED} }}
"""


def _analyze(tmp_path, rows, **settings):
    """Runs preprocessing_fn with TFT's in-memory Beam analysis; returns (transformed rows, TFTransformOutput)."""
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

    schema = text_format.Parse(SCHEMA, schema_pb2.Schema())
    task = features.resolve_task(schema, TaskSettings.model_validate(settings))
    metadata = dataset_metadata.DatasetMetadata(schema)
    preprocess = functools.partial(preprocessing_fn, custom_config={features.TASK_KEY: task.model_dump(mode="json")})
    spec = schema_utils.schema_as_feature_spec(schema).feature_spec
    instances = [{name: value for name, value in row.items() if name in spec} for row in rows]
    with tft_beam.Context(temp_dir=str(tmp_path / "tmp")):
        (transformed, _), transform_fn = (instances, metadata) | tft_beam.AnalyzeAndTransformDataset(preprocess)
        _ = transform_fn | tft_beam.WriteTransformFn(str(tmp_path / "transform"))
    return transformed, tft.TFTransformOutput(str(tmp_path / "transform"))


def _rows():
    species = ["setosa", "virginica", "setosa", "versicolor", "setosa", "virginica"]
    return [
        {
            "x": [float(index - 3)],
            "maybe": [1.0 * index] if index % 2 else [],
            "colour": ["red" if index < 3 else "blue"],
            "y": [10.0 * index],
            "species": [name],
        }
        for index, name in enumerate(species)
    ]


def test_multiclass_label_ids_follow_the_vocabulary_of_class_names(tmp_path):
    transformed, output = _analyze(tmp_path, _rows(), type="multiclass", label="species")
    classes = [name.decode() for name in output.vocabulary_by_name(features.LABEL_VOCABULARY)]
    assert classes[0] == "setosa" and set(classes) == {"setosa", "virginica", "versicolor"}  # most frequent first
    ids = [row[features.LABEL_KEY] for row in transformed]
    assert [classes[i] for i in ids] == [row["species"][0] for row in _rows()]


def test_regression_label_keeps_its_units_and_numbers_are_not_clamped(tmp_path):
    transformed, _ = _analyze(tmp_path, _rows(), type="regression", label="y")
    assert [row[features.LABEL_KEY] for row in transformed] == [10.0 * index for index in range(6)]
    x = np.array([row[features.transformed_name("x")] for row in transformed])
    # Negative values are scaled like the others: z-scores of -3..2, no silent clamp at 0.
    expected = (np.arange(6) - 3 - np.mean(np.arange(6) - 3)) / np.std(np.arange(6) - 3)
    np.testing.assert_allclose(x, expected, rtol=1e-5)


def test_optional_numbers_are_scaled_over_present_values_only(tmp_path):
    transformed, _ = _analyze(tmp_path, _rows(), type="regression", label="y")
    present = [row[features.presence_name("maybe")] for row in transformed]
    assert present == [0.0, 1.0, 0.0, 1.0, 0.0, 1.0]
    values = np.array([row[features.transformed_name("maybe")] for row in transformed])
    observed = np.array([1.0, 3.0, 5.0])
    np.testing.assert_allclose(values[1::2], (observed - observed.mean()) / observed.std(), rtol=1e-5)
    assert (values[0::2] == 0).all(), "missing values take the mean: 0 after scaling"


def test_binary_label_from_a_string_column_and_its_positive_class(tmp_path):
    transformed, _ = _analyze(tmp_path, _rows(), type="binary", label="colour", positive_class="red")
    assert [row[features.LABEL_KEY] for row in transformed] == [1, 1, 1, 0, 0, 0]


def test_a_derived_multiclass_label_from_an_expression(tmp_path):
    transformed, output = _analyze(
        tmp_path,
        _rows(),
        type="multiclass",
        label="size",
        label_expression="'big' if y > 25 else 'small'",
        features={"exclude": ["y"]},
    )
    classes = [name.decode() for name in output.vocabulary_by_name(features.LABEL_VOCABULARY)]
    assert [classes[row[features.LABEL_KEY]] for row in transformed] == ["small"] * 3 + ["big"] * 3
