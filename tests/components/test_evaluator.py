"""FastEvaluatorExecutor: its metrics against definitions, and against TFX's Evaluator executor on the same files."""

from __future__ import annotations

import itertools
import json
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.components.evaluator import constants
from tfx.components.evaluator import executor as tfx_evaluator_executor
from tfx.types import standard_artifacts

from components.evaluator import FastEvaluatorExecutor, evaluate, metrics
from pipelines import evaluation
from tests.conftest import taxi_task

LABEL, SCORE, GROUP = "label", "score", "group"


def _pairwise_auc(labels, scores) -> float:
    """AUC by its definition: over every (positive, negative) pair, 1 if the positive scores higher, 1/2 if tied."""
    positives = [s for s, y in zip(scores, labels, strict=True) if y]
    negatives = [s for s, y in zip(scores, labels, strict=True) if not y]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(positives, negatives))
    return wins / (len(positives) * len(negatives))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_is_the_pairwise_definition_ties_included(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 300)
    # Few distinct scores: many ties, within and across the classes.
    scores = np.round(rng.random(300) * 0.5 + 0.3 * labels, 1)
    assert metrics.auc(labels, scores[:, None]) == pytest.approx(_pairwise_auc(labels, scores), abs=1e-12)


def test_auc_of_one_class_and_the_other_metrics():
    assert np.isnan(metrics.auc(np.zeros(4), np.array([[0.1], [0.2], [0.3], [0.4]])))
    assert np.isnan(metrics.auc(np.array([0, 1, 0, 1]), np.array([[0.1], [np.nan], [0.3], [0.4]])))
    labels = np.array([0.0, 1.0, 1.0, 0.0])
    predictions = np.array([[0.2], [0.7], [0.4], [0.6]])
    values = metrics.metric_values(
        [
            ("ExampleCount", "n"),
            ("BinaryAccuracy", "acc"),
            ("RootMeanSquaredError", "rmse"),
            ("MeanAbsoluteError", "mae"),
        ],
        labels,
        predictions,
    )
    errors = predictions[:, 0] - labels
    assert values == {
        "n": 4.0,
        "acc": 0.5,
        "rmse": pytest.approx(np.sqrt(np.mean(errors**2))),
        "mae": pytest.approx(np.mean(np.abs(errors))),
    }
    # Class -1 (unseen in training) is never right.
    multiclass = metrics.metric_values(
        [("SparseCategoricalAccuracy", "acc")], np.array([2, 0, -1]), np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]])
    )
    assert multiclass == {"acc": pytest.approx(1 / 3)}


def test_group_rows_puts_each_row_under_each_of_its_values():
    rows = np.array([0, 1, 1, 2, 3])
    codes = np.array([5, 5, 7, 7, 5])
    assert [(code, sorted(group.tolist())) for code, group in metrics.group_rows(rows, codes)] == [
        (5, [0, 1, 3]),
        (7, [1, 2]),
    ]
    assert list(metrics.group_rows(np.array([], np.int64), np.array([], np.int64))) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c.metrics_specs[0].metrics.add(class_name="Calibration"), "Calibration"),
        (lambda c: c.slicing_specs.add(feature_keys=["a", "b"]), "one feature key"),
        (lambda c: setattr(c.model_specs[0], "example_weight_key", "w"), "example weights"),
    ],
)
def test_what_it_does_not_compute_is_refused_by_name(change, message):
    config = _binary_config()
    change(config)
    with pytest.raises(ValueError, match=message):
        evaluate.check_supported(config)


# --- the executor, on real files and SavedModels ---------------------------------------------------


class _Model(tf.Module):
    """A binary model with the exported model's two signatures: predicts the score feature, rounded to `step`."""

    def __init__(self, step: float):
        super().__init__()
        self.step = tf.Variable(step)
        self._spec = {
            LABEL: tf.io.FixedLenFeature([], tf.int64),
            SCORE: tf.io.FixedLenFeature([], tf.float32),
        }

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(self, examples):
        score = tf.io.parse_example(examples, {SCORE: self._spec[SCORE]})[SCORE]
        rounded = tf.round(score / self.step) * self.step if self.step > 0 else score
        return {"probabilities": rounded[:, None]}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def transform_features(self, examples):
        return {"__label__": tf.io.parse_example(examples, self._spec)[LABEL]}


def _save_model(root, name: str, step: float):
    model = _Model(step)
    artifact = standard_artifacts.Model()
    artifact.uri = str(root / name)
    artifact.id = {"candidate": 11, "baseline": 7}[name]
    signatures = {"serving_default": model.serve, "transform_features": model.transform_features}
    tf.saved_model.save(model, os.path.join(artifact.uri, "Format-Serving"), signatures=signatures)
    return artifact


def _examples(root, rows):
    artifact = standard_artifacts.Examples()
    artifact.uri = str(root / "examples")
    artifact.split_names = json.dumps(["eval"])
    os.makedirs(os.path.join(artifact.uri, "Split-eval"))
    path = os.path.join(artifact.uri, "Split-eval", "data_tfrecord-00000-of-00001.gz")
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for label, score, group in rows:
            feature = {
                LABEL: tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
                SCORE: tf.train.Feature(float_list=tf.train.FloatList(value=[score])),
            }
            if group is not None:
                feature[GROUP] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[group.encode()]))
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    return artifact


def _schema(root):
    schema = schema_pb2.Schema()
    schema.feature.add(name=LABEL, type=schema_pb2.INT)
    schema.feature.add(name=SCORE, type=schema_pb2.FLOAT)
    schema.feature.add(name=GROUP, type=schema_pb2.BYTES)
    artifact = standard_artifacts.Schema()
    artifact.uri = str(root / "schema")
    os.makedirs(artifact.uri)
    with open(os.path.join(artifact.uri, "schema.pbtxt"), "w") as f:
        from google.protobuf import text_format

        f.write(text_format.MessageToString(schema))
    return artifact


def _binary_config(threshold: float = 0.5, max_relative_drop: float = 0.01) -> tfma.EvalConfig:
    # The taxi task's type (binary), sliced by this test's feature.
    return evaluation.eval_config(taxi_task().model_copy(update={"slices": (GROUP,)}), threshold, max_relative_drop)


def _rows(num_rows: int = 2000, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, num_rows)
    scores = np.clip(rng.random(num_rows) * 0.7 + 0.3 * labels, 0, 1)
    groups = rng.choice(["a", "b", None], num_rows, p=[0.5, 0.4, 0.1])
    return list(zip(labels.tolist(), scores.astype(np.float32).tolist(), groups.tolist(), strict=True))


def _run(tmp_path, rows, config, baseline_step=None, candidate_step=0.0, executor=FastEvaluatorExecutor):
    evaluation_artifact = standard_artifacts.ModelEvaluation()
    evaluation_artifact.uri = str(tmp_path / "evaluation")
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / "blessing")
    os.makedirs(evaluation_artifact.uri)
    os.makedirs(blessing.uri)
    inputs = {
        "examples": [_examples(tmp_path, rows)],
        "model": [_save_model(tmp_path, "candidate", candidate_step)],
        "schema": [_schema(tmp_path)],
    }
    if baseline_step is not None:
        inputs["baseline_model"] = [_save_model(tmp_path, "baseline", baseline_step)]
    properties = {"eval_config": json.dumps(json.loads(_to_json(config))), "example_splits": json.dumps(["eval"])}
    executor().Do(inputs, {"evaluation": [evaluation_artifact], "blessing": [blessing]}, properties)
    return evaluation_artifact.uri, blessing


def _to_json(config) -> str:
    from google.protobuf import json_format

    return json_format.MessageToJson(config)


def test_first_model_metrics_slices_and_blessing_as_tfma_reads_them(tmp_path):
    rows = _rows()
    uri, blessing = _run(tmp_path, rows, _binary_config(threshold=0.5))

    result = dict(tfma.load_eval_result(uri).slicing_metrics)
    labels = [label for label, _, _ in rows]
    scores = [score for _, score, _ in rows]
    overall = result[()][""][""]
    assert overall["example_count"]["doubleValue"] == len(rows)
    assert overall["auc"]["doubleValue"] == pytest.approx(_pairwise_auc(labels, scores), abs=1e-9)
    assert overall["accuracy"]["doubleValue"] == pytest.approx(np.mean([(s > 0.5) == y for y, s, _ in rows]))
    # One slice per value; rows without the feature are in none.
    assert {key for key in result if key} == {((GROUP, "a"),), ((GROUP, "b"),)}
    assert result[((GROUP, "a"),)][""][""]["example_count"]["doubleValue"] == sum(g == "a" for *_, g in rows)

    assert tfma.load_validation_result(uri).validation_ok
    assert blessing.get_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY) == constants.BLESSED_VALUE
    assert blessing.get_int_custom_property(constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY) == 11
    assert os.listdir(blessing.uri) == [constants.BLESSED_FILE_NAME]


def test_below_the_floor_is_not_blessed_and_says_which_bound(tmp_path):
    uri, blessing = _run(tmp_path, _rows(), _binary_config(threshold=0.999))
    validation = tfma.load_validation_result(uri)
    assert not validation.validation_ok
    (per_slice,) = validation.metric_validations_per_slice
    (failure,) = per_slice.failures
    assert failure.metric_key.name == "auc" and failure.metric_threshold.HasField("value_threshold")
    assert blessing.get_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY) == constants.NOT_BLESSED_VALUE
    assert os.listdir(blessing.uri) == [constants.NOT_BLESSED_FILE_NAME]


@pytest.mark.parametrize(("candidate_step", "blessed"), [(0.0, True), (0.5, False)])
def test_against_a_baseline_the_change_threshold_decides(tmp_path, candidate_step, blessed):
    """Rounding the scores to 0, 0.5 or 1 ties most of them: AUC drops by more than 1% of the baseline's."""
    config = _binary_config(threshold=0.5, max_relative_drop=0.01)
    uri, blessing = _run(tmp_path, _rows(), config, baseline_step=0.0, candidate_step=candidate_step)
    overall = dict(tfma.load_eval_result(uri).slicing_metrics)[()][""][""]
    diff = overall["auc_diff"]["doubleValue"]
    validation = tfma.load_validation_result(uri)
    failures = [f for s in validation.metric_validations_per_slice for f in s.failures]
    if blessed:
        assert diff == 0.0 and validation.validation_ok and failures == []
    else:
        assert diff / (overall["auc"]["doubleValue"] - diff) < -0.01
        assert not validation.validation_ok
        assert [(f.metric_key.name, f.metric_key.is_diff) for f in failures] == [("auc", True)]
    assert blessing.get_int_custom_property(constants.ARTIFACT_PROPERTY_BASELINE_MODEL_ID_KEY) == 7
    assert blessing.get_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY) == int(blessed)


# TFMA warns per example that NumPy will stop converting 1-element arrays to floats.
@pytest.mark.filterwarnings("ignore:Conversion of an array with ndim > 0:DeprecationWarning")
@pytest.mark.parametrize(
    ("threshold", "baseline_step", "candidate_step", "blessed"),
    [(0.5, None, 0.0, True), (0.999, None, 0.0, False), (0.5, 0.0, 0.5, False)],
    ids=["first-model-blessed", "below-the-floor", "worse-than-the-baseline"],
)
def test_the_same_blessing_and_metrics_as_tfxs_evaluator(tmp_path, threshold, baseline_step, candidate_step, blessed):
    """TFX's own executor (TFMA) on the same files: the same blessing; counts and accuracy equal, AUC within 1e-3.

    TFMA interpolates AUC over 10 000 thresholds where ours is exact, hence the tolerance.
    """
    rows, config = _rows(num_rows=1500, seed=3), _binary_config(threshold=threshold)
    runs = {
        name: _run(tmp_path / name, rows, config, baseline_step, candidate_step, executor=executor)
        for name, executor in (("ours", FastEvaluatorExecutor), ("tfx", tfx_evaluator_executor.Executor))
    }
    (ours, our_blessing), (theirs, their_blessing) = runs["ours"], runs["tfx"]
    key = constants.ARTIFACT_PROPERTY_BLESSED_KEY
    assert our_blessing.get_int_custom_property(key) == their_blessing.get_int_custom_property(key) == int(blessed)
    assert os.listdir(our_blessing.uri) == os.listdir(their_blessing.uri)
    assert tfma.load_validation_result(ours).validation_ok == tfma.load_validation_result(theirs).validation_ok
    ours_metrics = dict(tfma.load_eval_result(ours).slicing_metrics)
    theirs_metrics = dict(tfma.load_eval_result(theirs).slicing_metrics)
    assert set(ours_metrics) == set(theirs_metrics)
    for slice_key, by_output in theirs_metrics.items():
        expected = by_output[""][""]
        actual = ours_metrics[slice_key][""][""]
        assert set(actual) == set(expected), slice_key
        for name, value in expected.items():
            tolerance = 1e-3 if name.startswith("auc") else 1e-9
            assert actual[name]["doubleValue"] == pytest.approx(value["doubleValue"], abs=tolerance), (slice_key, name)
