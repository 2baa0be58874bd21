"""Warm starts: weights carried over, vocabularies grown by token, classes by name, and cold starts that say why."""

from __future__ import annotations

import numpy as np
import pytest

from trainer import heads, model, warm_start
from trainer.hyperparameters import Hyperparameters

HPARAMS = Hyperparameters(num_layers=1, units=8, embedding_dim=4, dropout=0.0)
CITIES = ["paris", "rome", "oslo", "lima", "kyiv", "pune"]


def _network(vocabulary: list[str], classes: list[str] | None = None, hparams=HPARAMS, numeric=("x_xf",)):
    inputs = [model.ModelInput(name) for name in numeric] + [model.ModelInput("city_xf", len(vocabulary) + 1)]
    head = heads.MulticlassHead(classes) if classes else heads.BinaryHead()
    built = model.build_model(hparams, inputs, head.num_outputs)
    return built, warm_start.describe(hparams, inputs, head, {"city_xf": vocabulary})


@pytest.fixture
def saved(tmp_path):
    old, meta = _network(CITIES, ["gold", "silver"])
    warm_start.save(old, meta, str(tmp_path / "start"))
    return old, warm_start.load(str(tmp_path / "start"))


def _weight(built, path: str) -> np.ndarray:
    (variable,) = [v for v in built.weights if v.path == path]
    return np.asarray(variable.numpy())


def test_the_same_network_starts_from_every_saved_weight(saved):
    old, start = saved
    new, meta = _network(CITIES, ["gold", "silver"])
    values, message = warm_start.plan(start, new, meta)
    assert message == "warm start from the served model"
    assert set(values) == {v.path for v in new.weights}
    for variable in old.weights:
        np.testing.assert_array_equal(values[variable.path], variable.numpy())


def test_a_grown_vocabulary_moves_rows_by_token_and_keeps_the_oov_row(saved):
    old, start = saved
    new, meta = _network(["berlin", *reversed(CITIES)], ["gold", "silver"])
    values, message = warm_start.plan(start, new, meta)
    assert f"vocabularies remapped by token: city_xf {len(CITIES)} -> {len(CITIES) + 1}" in message
    old_table, new_table = _weight(old, "city_xf_embedding/embeddings"), values["city_xf_embedding/embeddings"]
    for new_id, city in enumerate(["berlin", *reversed(CITIES)]):
        if city in CITIES:
            np.testing.assert_array_equal(new_table[new_id], old_table[CITIES.index(city)], err_msg=city)
    np.testing.assert_array_equal(new_table[-1], old_table[-1], err_msg="the OOV row")
    np.testing.assert_array_equal(
        new_table[0], _weight(new, "city_xf_embedding/embeddings")[0], err_msg="berlin: fresh"
    )
    wide = values["city_xf_wide/embeddings"]
    np.testing.assert_array_equal(
        wide[1:-1], _weight(old, "city_xf_wide/embeddings")[::-1][1:], err_msg="wide rows too"
    )


def test_an_embedding_that_widens_with_its_vocabulary_starts_cold(tmp_path):
    old, meta = _network(["a", "b"])  # 3 ids: an embedding of width 3 (< embedding_dim 4)
    warm_start.save(old, meta, str(tmp_path / "start"))
    new, new_meta = _network(["a", "b", "c", "d"])  # 5 ids: width 4
    values, message = warm_start.plan(warm_start.load(str(tmp_path / "start")), new, new_meta)
    assert values == {} and "starting cold: city_xf_embedding/embeddings has shape (3, 3)" in message


def test_classes_are_matched_by_name_and_a_new_class_starts_fresh(saved):
    old, start = saved
    new, meta = _network(CITIES, ["silver", "bronze", "gold"])
    values, message = warm_start.plan(start, new, meta)
    assert "classes ['gold', 'silver'] -> ['silver', 'bronze', 'gold']" in message
    old_bias, new_bias = _weight(old, "deep_output/bias"), values["deep_output/bias"]
    assert new_bias[0] == old_bias[1] and new_bias[2] == old_bias[0]
    assert new_bias[1] == _weight(new, "deep_output/bias")[1]
    np.testing.assert_array_equal(values["deep_output/kernel"][:, 2], _weight(old, "deep_output/kernel")[:, 0])


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"hparams": Hyperparameters(num_layers=2, units=8, embedding_dim=4, dropout=0.0)}, "num_layers 1 -> 2"),
        ({"numeric": ("x_xf", "y_xf")}, "the inputs changed (added ['y_xf']"),
        ({"classes": None}, "the task changed (MulticlassHead -> BinaryHead)"),
    ],
)
def test_an_incompatible_network_starts_cold_and_says_why(saved, change, reason):
    _, start = saved
    arguments = {"vocabulary": CITIES, "classes": ["gold", "silver"], **change}
    new, meta = _network(**arguments)
    values, message = warm_start.plan(start, new, meta)
    assert values == {} and message.startswith("starting cold:") and reason in message


def test_the_learning_rate_alone_does_not_prevent_a_warm_start(saved):
    old, start = saved
    new, meta = _network(CITIES, ["gold", "silver"], hparams=HPARAMS.model_copy(update={"learning_rate": 1e-2}))
    values, message = warm_start.plan(start, new, meta)
    assert message == "warm start from the served model"
    assert set(values) == {v.path for v in new.weights}, "every weight starts warm"
    for variable in old.weights:
        np.testing.assert_array_equal(values[variable.path], variable.numpy(), err_msg=variable.path)


def test_the_newest_served_start_is_that_of_the_highest_version_with_one(tmp_path):
    root = tmp_path / "serving"
    for version in ("10", "12", "15"):
        (root / version).mkdir(parents=True)
    for version in ("10", "12", "99"):  # 99: not a served version
        (root / warm_start.SERVED_STARTS_DIR / version).mkdir(parents=True)
    assert warm_start.newest_served_start(str(root)) == str(root / warm_start.SERVED_STARTS_DIR / "12")
    assert warm_start.newest_served_start(str(tmp_path / "empty")) is None
