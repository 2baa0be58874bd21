"""preprocessing_fn on real rows: label, scaling, buckets, vocabularies, and serving without the label."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import serialized_examples
from trainer import features
from trainer.preprocessing import NUM_COORDINATE_BUCKETS


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
    assert 1 <= buckets[1] <= NUM_COORDINATE_BUCKETS


def test_unseen_category_maps_to_the_oov_bucket(transform_output):
    name = "company"
    vocabulary_size = transform_output.vocabulary_size_by_name(name)
    out = _transform(transform_output, [_row(company="A Company Founded Tomorrow"), _row()])
    ids = out[features.transformed_name(name)]
    assert ids[0] == vocabulary_size  # the single OOV bucket
    assert 0 <= ids[1] < vocabulary_size


def test_missing_category_is_its_own_token_not_the_oov_bucket(transform_output):
    out = _transform(transform_output, [_row(company=""), _row(company=""), _row(company="Never Seen Co")])
    ids = out[features.transformed_name("company")]
    assert ids[0] == ids[1]
    assert ids[0] < transform_output.vocabulary_size_by_name("company"), "missing must be in the vocabulary"
    assert ids[0] != ids[2]


def test_numerics_are_scaled_on_the_training_split(transformed):
    files = tf.io.gfile.glob(transformed.train_files)
    spec = {features.transformed_name("fare"): tf.io.FixedLenFeature([], tf.float32)}
    fares = np.concatenate(
        [
            tf.io.parse_example(batch, spec)[features.transformed_name("fare")].numpy()
            for batch in tf.data.TFRecordDataset(files, compression_type="GZIP").batch(1000)
        ]
    )
    assert abs(fares.mean()) < 0.01 and abs(fares.std() - 1.0) < 0.01


def test_serving_requests_without_the_label_transform_all_model_inputs(transform_output):
    out = _transform(transform_output, [_row()], drop=(features.LABEL_SOURCE,))
    assert features.LABEL_KEY not in out
    assert {features.transformed_name(name) for name in features.feature_names()} <= set(out)
