"""Resolving the task from a schema and the config: each rule, the overrides, and the errors."""

from __future__ import annotations

import pytest
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from tests.conftest import SCHEMA_PATH, taxi_task
from trainer import features
from trainer.features import FeatureKind, TaskError
from trainer.settings import TaskSettings

SCHEMA = """
default_environment: "TRAINING"
default_environment: "SERVING"
feature { name: "price" type: FLOAT shape { dim { size: 1 } } float_domain { min: 0 } }
feature { name: "temperature" type: FLOAT value_count { min: 0 max: 1 } }
feature { name: "rooms" type: INT shape { dim { size: 1 } } int_domain { min: 1 max: 9 } }
feature { name: "zone" type: INT shape { dim { size: 1 } } int_domain { min: 1 max: 40 is_categorical: true } }
feature { name: "city" type: BYTES shape { dim { size: 1 } } }
feature { name: "colour" type: BYTES value_count { min: 0 max: 1 } string_domain { name: "c" value: "red" } }
feature { name: "id" type: INT shape { dim { size: 1 } } }
feature { name: "grade" type: BYTES shape { dim { size: 1 } } not_in_environment: "SERVING" }
feature { name: "sold" type: INT shape { dim { size: 1 } } int_domain { min: 0 max: 1 } not_in_environment: "SERVING" }
feature { name: "tags" type: BYTES value_count { min: 0 max: 5 } }
"""


def _schema(text: str = SCHEMA) -> schema_pb2.Schema:
    return text_format.Parse(text, schema_pb2.Schema())


def _resolve(schema: schema_pb2.Schema | None = None, **settings) -> features.TaskSpec:
    values = {"type": "multiclass", "label": "grade", "features": {"exclude": ["id", "tags"]}, **settings}
    return features.resolve_task(schema or _schema(), TaskSettings.model_validate(values), "schema.pbtxt")


def test_kinds_follow_the_schema():
    task = _resolve()
    kinds = {feature.name: feature.kind for feature in task.features}
    assert kinds == {
        "price": FeatureKind.NUMERIC,  # FLOAT
        "temperature": FeatureKind.NUMERIC,
        "rooms": FeatureKind.NUMERIC,  # INT without is_categorical: ordinal
        "zone": FeatureKind.CATEGORICAL,  # INT marked categorical
        "city": FeatureKind.CATEGORICAL,  # BYTES
        "colour": FeatureKind.CATEGORICAL,  # string_domain
    }
    assert [feature.name for feature in task.features] == ["price", "temperature", "rooms", "zone", "city", "colour"]


def test_features_without_a_fixed_shape_may_be_missing():
    task = _resolve()
    assert task.feature("temperature").optional and task.feature("colour").optional
    assert not task.feature("price").optional and not task.feature("zone").optional


def test_inputs_leave_out_the_label_exclusions_and_what_is_absent_at_serving():
    task = _resolve(label="grade")
    names = set(task.input_columns)
    assert "grade" not in names, "the label"
    assert "id" not in names and "tags" not in names, "excluded"
    assert "sold" not in names, "not sent at serving"


def test_overrides_change_the_transform():
    task = _resolve(
        features={
            "exclude": ["id", "tags"],
            "overrides": {
                "rooms": {"kind": "categorical", "top_k": 5},
                "price": {"log1p": True, "clip_max": 1000.0},
                "temperature": {"kind": "bucketized", "num_buckets": 4},
            },
        }
    )
    assert task.feature("rooms").kind is FeatureKind.CATEGORICAL and task.feature("rooms").top_k == 5
    price = task.feature("price")
    assert price.log1p and price.clip_max == 1000.0 and price.kind is FeatureKind.NUMERIC
    temperature = task.feature("temperature")
    assert temperature.kind is FeatureKind.BUCKETIZED and temperature.num_buckets == 4
    assert (
        _resolve(features={"overrides": {"rooms": {"kind": "bucketized"}}, "exclude": ["id", "tags"]})
        .feature("rooms")
        .num_buckets
        == 10
    ), "the default number of buckets"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"temperature": {"log1p": True}}, r"overrides\.temperature\.log1p: the schema lets 'temperature' be negative"),
        ({"city": {"kind": "numeric"}}, r"overrides\.city\.kind: 'city' holds strings"),
        ({"price": {"top_k": 3}}, r"overrides\.price\.top_k applies to categorical inputs"),
        ({"price": {"num_buckets": 3}}, r"overrides\.price\.num_buckets applies to bucketized inputs"),
        ({"zone": {"log1p": True}}, r"overrides\.zone: log1p and clipping apply to numeric inputs"),
        ({"nothing": {"log1p": True}}, r"task\.features\.overrides: 'nothing' not in schema\.pbtxt"),
    ],
)
def test_overrides_that_do_not_fit_are_refused(override, message):
    with pytest.raises(TaskError, match=message):
        _resolve(features={"exclude": ["id", "tags"], "overrides": override})


def test_log1p_is_allowed_on_a_negative_feature_when_clipped():
    task = _resolve(features={"exclude": ["id", "tags"], "overrides": {"temperature": {"log1p": True, "clip_min": 0}}})
    assert task.feature("temperature").log1p


def test_a_label_that_is_not_in_the_schema_is_named_with_the_columns():
    with pytest.raises(TaskError, match=r"task\.label: 'grades' is not a column of schema\.pbtxt; its columns are: "):
        _resolve(label="grades")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"type": "regression", "label": "grade"}, r"a regression label must be a number, got string"),
        ({"type": "multiclass", "label": "price"}, r"a multiclass label must be an INT or string column"),
        ({"type": "binary", "label": "grade"}, r"a string label needs task\.positive_class"),
        ({"type": "binary", "label": "price"}, r"a numeric label is not binary as it is"),
        ({"type": "multiclass", "label": "hot", "label_expression": "temperature > 30"}, r"use task\.type binary"),
        ({"type": "regression", "label": "upper", "label_expression": "city == 'x'"}, r"must be a number, got bool"),
    ],
)
def test_a_task_type_that_does_not_match_the_label_is_refused(settings, message):
    with pytest.raises(TaskError, match=message):
        _resolve(**settings)


def test_binary_label_column_positive_class_defaults_to_1():
    task = _resolve(type="binary", label="sold")
    assert task.label.positive_class == 1 and task.label.source_columns == ("sold",)
    named = _resolve(type="binary", label="grade", positive_class="A")
    assert named.label.positive_class == "A"


def test_a_derived_label_keeps_its_served_sources_as_inputs_and_drops_the_rest():
    task = _resolve(type="binary", label="good_deal", label_expression="sold == 1 and price < 100")
    assert task.label.expression == "sold == 1 and price < 100"
    assert task.label.source_columns == ("price", "sold")
    assert "price" in task.input_columns, "price is sent at serving: still an input"
    assert "sold" not in task.input_columns


def test_a_derived_label_computed_only_from_inputs_is_refused_as_a_leak():
    with pytest.raises(TaskError, match=r"reads only model inputs \(price\): the model would learn the rule itself"):
        _resolve(type="binary", label="expensive", label_expression="price > 100")
    # Excluding the source removes the leak.
    task = _resolve(
        type="binary", label="expensive", label_expression="price > 100", features={"exclude": ["id", "tags", "price"]}
    )
    assert "price" not in task.input_columns


def test_a_derived_label_needs_a_name_of_its_own_and_known_columns():
    with pytest.raises(TaskError, match=r"task\.label: 'city' is a column of schema\.pbtxt; a derived label needs"):
        _resolve(type="binary", label="city", label_expression="sold == 1")
    with pytest.raises(TaskError, match=r"task\.label_expression: .*reads 'prize', not a column of the schema"):
        _resolve(type="binary", label="x", label_expression="prize > 3")


def test_multivalent_features_must_be_excluded():
    with pytest.raises(TaskError, match=r"feature 'tags' holds several values per example"):
        _resolve(features={"exclude": ["id"]})


def test_unknown_exclusions_and_slices_are_named():
    with pytest.raises(TaskError, match=r"task\.features\.exclude: 'idd' not in schema\.pbtxt"):
        _resolve(features={"exclude": ["idd", "tags"]})
    with pytest.raises(TaskError, match=r"task\.slices: 'town' not in schema\.pbtxt"):
        _resolve(slices=["town"])
    assert _resolve(slices=["city"]).slices == ("city",)


def test_transformed_names_that_collide_are_refused():
    schema = _schema(SCHEMA + 'feature { name: "temperature_present" type: FLOAT shape { dim { size: 1 } } }\n')
    with pytest.raises(TaskError, match=r"'temperature' and 'temperature_present' both become"):
        _resolve(schema)


def test_the_resolved_task_round_trips_through_json():
    task = _resolve(features={"exclude": ["id", "tags"], "overrides": {"price": {"log1p": True}}})
    assert features.TaskSpec.model_validate(task.model_dump(mode="json")) == task


# --- the taxi sample, expressed through config and schema alone ---------------------------------------


def test_the_taxi_config_reads_the_inputs_the_sample_needs():
    task = taxi_task()
    assert task.type == "binary" and task.label.name == "big_tipper"
    assert task.label.expression == "tips > 0.2 * fare" and task.label.source_columns == ("fare", "tips")
    kinds = {feature.name: feature.kind.value for feature in task.features}
    assert kinds == {
        "trip_start_hour": "categorical",
        "trip_start_day": "categorical",
        "trip_start_month": "categorical",
        "fare": "numeric",
        "trip_miles": "numeric",
        "trip_seconds": "numeric",
        "payment_type": "categorical",
        "company": "categorical",
        "pickup_latitude": "bucketized",
        "pickup_longitude": "bucketized",
        "dropoff_latitude": "bucketized",
        "dropoff_longitude": "bucketized",
        "pickup_community_area": "categorical",
        "dropoff_community_area": "categorical",
    }
    assert {f.name for f in task.features if f.log1p} == {"fare", "trip_miles", "trip_seconds"}
    assert task.slices == ("payment_type",)


def test_the_taxi_schema_keeps_the_label_source_out_of_serving():
    schema = features.load_schema(str(SCHEMA_PATH))
    (tips,) = [feature for feature in schema.feature if feature.name == "tips"]
    assert list(tips.not_in_environment) == [features.SERVING_ENVIRONMENT]
    assert "tips" not in taxi_task().input_columns
