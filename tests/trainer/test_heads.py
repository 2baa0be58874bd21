"""Each task's head: output width, loss, metrics and serving outputs, on hand-made tensors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from trainer import heads


def test_binary_head_is_a_sigmoid_with_auc():
    head = heads.BinaryHead()
    labels, logits = tf.constant([1, 0, 1, 0]), tf.constant([2.0, -2.0, 0.5, 1.0])
    loss = head.per_example_loss(labels, logits).numpy()
    np.testing.assert_allclose(loss[0], math.log1p(math.exp(-2.0)), rtol=1e-5)
    metrics = head.new_metrics()
    head.update_metrics(metrics, labels, logits)
    result = head.result(metrics)
    assert result["accuracy"] == pytest.approx(0.75) and result["auc"] == pytest.approx(0.75)
    served = head.predictions(logits)
    np.testing.assert_allclose(served["probabilities"].numpy(), tf.sigmoid(logits).numpy())
    assert head.num_outputs == 1 and head.objective == ("val_auc", "max") and head.goal.name == "auc"


def test_multiclass_head_serves_every_class_with_its_name():
    head = heads.MulticlassHead(["gold", "silver", "bronze"])
    logits = tf.constant([[3.0, 0.0, 0.0], [0.0, 0.0, 2.0]])
    served = head.predictions(logits)
    probabilities = served["probabilities"].numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), [1.0, 1.0], rtol=1e-6)
    assert served["classes"].numpy().tolist() == [[b"gold", b"silver", b"bronze"]] * 2
    assert served["predicted_class"].numpy().tolist() == [b"gold", b"bronze"]
    assert head.num_outputs == 3 and head.objective == ("val_accuracy", "max")


def test_multiclass_head_counts_an_unknown_class_as_wrong_without_a_loss():
    head = heads.MulticlassHead(["a", "b"])
    labels, logits = tf.constant([0, -1]), tf.constant([[2.0, 0.0], [2.0, 0.0]])
    loss = head.per_example_loss(labels, logits).numpy()
    assert loss[0] > 0 and loss[1] == 0
    metrics = head.new_metrics()
    head.update_metrics(metrics, labels, logits)
    assert head.result(metrics)["accuracy"] == pytest.approx(0.5)
    keras_loss = head.keras_loss()(labels, logits).numpy()
    assert np.isfinite(keras_loss)


def test_multiclass_needs_two_classes():
    with pytest.raises(ValueError, match=r"at least 2 classes in the training data, found \['only'\]"):
        heads.MulticlassHead(["only"])


def test_regression_head_trains_standardised_and_serves_in_label_units():
    head = heads.RegressionHead(label_mean=150.0, label_std=50.0)
    labels = tf.constant([100.0, 200.0])
    outputs = tf.constant([-1.0, 1.0])  # exactly right, in standard deviations
    np.testing.assert_allclose(head.per_example_loss(labels, outputs).numpy(), [0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(head.predictions(outputs)["predictions"].numpy(), [100.0, 200.0])
    metrics = head.new_metrics()
    head.update_metrics(metrics, labels, tf.constant([-1.0, 0.0]))  # 0 and 50 off
    result = head.result(metrics)
    assert result["rmse"] == pytest.approx(math.sqrt((0 + 50**2) / 2)) and result["mae"] == pytest.approx(25.0)
    assert head.goal.name == "rmse" and not head.goal.higher_is_better
    assert head.objective == ("val_loss", "min")


def test_a_constant_regression_label_does_not_divide_by_zero():
    head = heads.RegressionHead(label_mean=3.0, label_std=0.0)
    assert np.isfinite(head.per_example_loss(tf.constant([3.0]), tf.constant([0.0])).numpy()).all()


def test_every_task_type_has_a_head():
    assert set(heads.HEAD_CLASSES) == {"binary", "multiclass", "regression"}
    with pytest.raises(ValueError, match="unknown task type 'ranking'"):
        heads.make_head("ranking", None, [])
