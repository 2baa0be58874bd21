"""The onboarding commands: a commented schema inferred with TFDV, and a config that loads."""

from __future__ import annotations

import collections
import pathlib

import pytest
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from pipelines import config as config_lib
from pipelines import init_dataset
from tests import datasets
from trainer import features


@pytest.fixture(scope="module")
def tiers_folder(tmp_path_factory) -> pathlib.Path:
    folder = tmp_path_factory.mktemp("tiers")
    datasets.write_csv(folder / "data" / "customers.csv", datasets.customer_tiers(num_rows=400, seed=1))
    return folder


@pytest.fixture(scope="module")
def schema_file(tiers_folder) -> pathlib.Path:
    out = tiers_folder / "schema" / "schema.pbtxt"
    code = init_dataset.main(
        [
            "schema",
            "--input",
            str(tiers_folder / "data"),
            "--pattern",
            "*.csv",
            "--task",
            "multiclass",
            "--label",
            "tier",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    return out


def test_the_schema_file_parses_back_and_keeps_the_label_out_of_serving(schema_file):
    schema = text_format.Parse(schema_file.read_text(), schema_pb2.Schema())
    by_name = {feature.name: feature for feature in schema.feature}
    assert set(by_name) == {"customer_id", "income", "age", "region", "plan", "visits", "tier"}
    assert list(by_name["tier"].not_in_environment) == ["SERVING"]
    assert list(schema.default_environment) == ["TRAINING", "SERVING"]
    # Optional features may be present without a value: CsvExampleGen writes an empty cell that way.
    assert by_name["income"].value_count.min == 0 and by_name["region"].value_count.min == 0
    assert by_name["age"].HasField("shape"), "a column that is always there is required"


def test_each_feature_is_commented_with_how_the_trainer_reads_it(schema_file):
    text = schema_file.read_text()
    comments = {}
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line == "feature {":
            comments[lines[index + 1].split('"')[1]] = lines[index - 1]
    assert comments["region"].startswith("# reads as: categorical, missing values have an id of their own")
    assert comments["income"].startswith("# reads as: numeric, missing values take the mean")
    assert comments["age"].startswith("# reads as: numeric;") and "18 to 79" in comments["age"]
    assert comments["tier"].startswith("# label (multiclass); 3 distinct values")


def test_an_existing_file_is_not_overwritten_unless_asked(schema_file, tiers_folder, capsys):
    before = schema_file.read_text()
    args = ["schema", "--input", str(tiers_folder / "data"), "--task", "multiclass", "--label", "tier"]
    assert init_dataset.main([*args, "--out", str(schema_file)]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err and schema_file.read_text() == before


def test_an_unknown_label_is_named_with_the_columns(tiers_folder, tmp_path, capsys):
    args = ["schema", "--input", str(tiers_folder / "data"), "--task", "multiclass", "--label", "tie"]
    assert init_dataset.main([*args, "--out", str(tmp_path / "s.pbtxt")]) == 2
    assert "'tie' is not a column of the data; its columns are: age, customer_id" in capsys.readouterr().err


def test_the_config_loads_and_its_threshold_is_the_majority_share(schema_file, tiers_folder, monkeypatch):
    monkeypatch.chdir(tiers_folder)
    out = tiers_folder / "configs" / "tiers.yaml"
    code = init_dataset.main(
        [
            "config",
            "--input",
            "data",
            "--pattern",
            "*.csv",
            "--task",
            "multiclass",
            "--label",
            "tier",
            "--schema",
            str(schema_file),
            "--name",
            "tiers",
            "--exclude",
            "customer_id",
            "--slice",
            "plan",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    config = config_lib.load_config(out)
    counts = collections.Counter(row["tier"] for row in datasets.customer_tiers(num_rows=400, seed=1))
    assert config.evaluator.threshold == pytest.approx(max(counts.values()) / 400, abs=1e-4)
    assert config.pipeline.root == "outputs/tiers/pipeline_root" and config.input.format == "csv"
    task = features.resolve_task(features.load_schema(str(schema_file)), config.task)
    assert "customer_id" not in task.input_columns and task.slices == ("plan",)
    assert "most frequent class" in out.read_text().splitlines()[2]


def test_spans_resolve_to_the_latest_one(tmp_path):
    for span in (1, 2, 10):
        datasets.write_csv(tmp_path / f"span-{span}" / "part.csv", [{"a": str(span)}])
    location, files = init_dataset.data_location(str(tmp_path), "span-{SPAN}/*.csv")
    assert location == str(tmp_path / "span-10" / "*.csv") and files == [str(tmp_path / "span-10" / "part.csv")]
    with pytest.raises(FileNotFoundError, match=r"no files in .* match 'span-\{SPAN\}/\*\.tfr'"):
        init_dataset.data_location(str(tmp_path), "span-{SPAN}/*.tfr")


@pytest.mark.parametrize(
    ("task", "values", "expected"),
    [
        ("binary", [], 0.5),
        ("multiclass", ["a", "b", "a", "a"], 0.75),
        ("regression", [1.0, 3.0], 1.0),
    ],
)
def test_baseline_threshold_is_what_ignoring_the_inputs_scores(task, values, expected):
    assert init_dataset.baseline_threshold(task, values)[0] == pytest.approx(expected)


def test_a_derived_label_is_computed_for_the_baseline(tmp_path):
    path = datasets.write_csv(tmp_path / "d.csv", [{"x": "1", "y": "4"}, {"x": "3", "y": "0"}, {"x": "", "y": "9"}])
    values = init_dataset.label_values([str(path)], "csv", "big", "'big' if x + y > 4 else 'small'")
    assert values == ["big", "small", "big"], "a missing value counts as 0"


@pytest.mark.parametrize("rows", [334, 5_000, 2_000_000])
def test_fitted_defaults_run_on_the_data_they_were_written_for(rows):
    settings, reasons = init_dataset.fitted_settings(
        init_dataset.DataSize(rows, {"a": rows // 2, "b": rows // 2}), "binary"
    )
    eval_rows = (
        rows * settings["input.eval_buckets"] // (settings["input.train_buckets"] + settings["input.eval_buckets"])
    )
    train_rows = rows - eval_rows
    assert eval_rows >= init_dataset.MIN_EVAL_ROWS and settings["validation.min_examples"] <= eval_rows
    assert settings["trainer.batch_size"] <= train_rows / 8
    assert settings["trainer.train_steps"] * settings["trainer.batch_size"] >= train_rows, "at least one epoch"
    assert settings["tuner.steps_per_trial"] <= settings["trainer.train_steps"]
    assert all(key in reasons for key in ("input.train_buckets", "validation.min_examples", "trainer.batch_size"))


@pytest.mark.parametrize(
    ("size", "named"),
    [
        (init_dataset.DataSize(120, {"a": 60, "b": 60}), "the data has 120 rows in its newest span"),
        (init_dataset.DataSize(400, {"a": 395, "b": 5}), "the label's classes ['b'] have [5] rows"),
    ],
)
def test_data_too_small_to_train_and_score_is_refused_with_the_count(size, named):
    with pytest.raises(ValueError, match=r"at least|fewer than") as error:
        init_dataset.fitted_settings(size, "multiclass")
    assert named in str(error.value)


def test_each_fitted_default_is_commented_with_its_reason_on_the_line_above():
    _, reasons = init_dataset.fitted_settings(init_dataset.DataSize(334, {"a": 150, "b": 184}), "binary")
    document = {"input": {"train_buckets": 2, "path": "data"}, "validation": {"min_examples": 55}}
    lines = init_dataset._render(document, reasons)
    assert lines[0] == "input:" and lines[1].startswith("  # 334 rows a span")
    assert lines[lines.index("  min_examples: 55") - 1].startswith("  # ")
    assert not lines[lines.index("  path: data") - 1].lstrip().startswith("#"), "a key with no reason has no comment"
