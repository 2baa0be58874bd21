"""The feature registry used by code and the curated schema must agree."""

from __future__ import annotations

import pytest
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from tests.conftest import SCHEMA_PATH
from trainer import features


@pytest.fixture(scope="module")
def schema() -> schema_pb2.Schema:
    return text_format.Parse(SCHEMA_PATH.read_text(), schema_pb2.Schema())


@pytest.fixture(scope="module")
def by_name(schema) -> dict[str, schema_pb2.Feature]:
    return {feature.name: feature for feature in schema.feature}


def test_every_schema_column_is_known_to_the_code_and_back(by_name):
    in_schema = set(by_name)
    in_code = set(features.all_columns())
    assert in_schema - in_code == set(), "columns in the schema but not in trainer/features.py"
    assert in_code - in_schema == set(), "columns in trainer/features.py but not in the schema"


def test_registry_has_no_duplicates_and_no_overlap():
    names = features.feature_names()
    assert len(names) == len(set(names))
    assert features.LABEL_SOURCE not in names
    assert not set(features.UNUSED_COLUMNS) & set(names)


@pytest.mark.parametrize("feature", features.FEATURES, ids=lambda feature: feature.name)
def test_feature_kind_matches_schema_type(feature, by_name):
    schema_type = schema_pb2.FeatureType.Name(by_name[feature.name].type)
    assert schema_type in feature.kind.schema_types, (
        f"{feature.name}: kind {feature.kind.value} reads {sorted(feature.kind.schema_types)}, "
        f"schema says {schema_type}"
    )


def test_label_source_is_a_required_float_absent_at_serving(schema, by_name):
    label = by_name[features.LABEL_SOURCE]
    assert schema_pb2.FeatureType.Name(label.type) == "FLOAT"
    assert label.presence.min_fraction == 1.0
    assert list(label.not_in_environment) == ["SERVING"]
    assert set(schema.default_environment) == {"TRAINING", "SERVING"}


def test_model_inputs_are_all_available_at_serving(by_name):
    for name in features.feature_names():
        assert "SERVING" not in by_name[name].not_in_environment, f"{name} is a model input but absent at serving"


def test_label_needs_fare_as_a_required_input(by_name):
    # big_tipper = tips > TIP_FRACTION_THRESHOLD * fare: fare must always be there.
    assert "fare" in features.feature_names()
    assert by_name["fare"].presence.min_fraction == 1.0


def test_categorical_strings_with_a_domain_are_closed_sets(by_name):
    payment = by_name["payment_type"]
    assert payment.WhichOneof("domain_info") == "string_domain"
    assert {"Cash", "Credit Card"} <= set(payment.string_domain.value)


def test_feature_names_by_kind():
    assert features.feature_names(features.FeatureKind.CATEGORICAL_STRING) == ("payment_type", "company")
    assert len(features.feature_names(features.FeatureKind.COORDINATE)) == 4
