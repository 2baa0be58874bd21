"""Unit tests of the config loader: typed values, overrides, and errors that name file and key."""

from __future__ import annotations

import pathlib
import subprocess
import sys
import textwrap

import pydantic
import pytest

from pipelines import config as config_lib
from tests.conftest import LOCAL_CONFIG, REPO_ROOT, SCHEMA_PATH

_VALID = textwrap.dedent(
    """
    pipeline:
      name: test-pipeline
      root: {tmp}/root
      metadata_path: {tmp}/metadata.sqlite
      log_dir: {tmp}/logs
    input:
      format: tfrecord
      path: {tmp}/data/tfrecord
    task:
      type: binary
      label: big_tipper
      label_expression: tips > 0.2 * fare
    validation:
      schema_path: {schema}
      fail_on: error
    beam:
      args: [--direct_running_mode=in_memory]
    tuner:
      max_trials: 2
      steps_per_trial: 10
    trainer:
      train_steps: 100
      batch_size: 32
    evaluator:
      threshold: 0.9
    pusher:
      serving_root: {tmp}/serving
    """
)


@pytest.fixture
def config_file(tmp_path: pathlib.Path) -> pathlib.Path:
    """A valid config whose TFRecord input folder holds one span file."""
    span = tmp_path / "data" / "tfrecord" / "span-1"
    span.mkdir(parents=True)
    (span / "data.tfrecord.gz").write_bytes(b"")
    path = tmp_path / "config.yaml"
    path.write_text(_VALID.format(tmp=tmp_path, schema=SCHEMA_PATH))
    return path


def _replace(path: pathlib.Path, old: str, new: str) -> pathlib.Path:
    text = path.read_text()
    assert old in text, f"test setup: {old!r} not in the config"
    path.write_text(text.replace(old, new))
    return path


def test_repo_local_config_loads_with_typed_values():
    config = config_lib.load_config(LOCAL_CONFIG, check_local_paths=False)
    assert config.pipeline.name == "taxi-local"
    assert config.input.format == "tfrecord" and config.input.path == "data/taxi/tfrecord"
    assert config.task.type == "binary" and config.task.label_expression == "tips > 0.2 * fare"
    assert config.task.features.overrides["fare"].log1p and config.task.slices == ("payment_type",)
    assert config.validation.fail_on == "error"
    assert config.beam.args == ("--direct_running_mode=in_memory", "--direct_num_workers=1")
    assert config.input.train_buckets == 2 and config.input.eval_buckets == 1


def test_defaults_fill_optional_keys(config_file):
    config = config_lib.load_config(config_file)
    assert config.pipeline.enable_cache is True
    assert config.input.pattern == "span-{SPAN}/*" and config.input.has_spans
    assert config.evaluator.max_relative_drop == 0.01
    assert config.task.features.exclude == () and config.task.slices == ()


def test_override_sets_typed_value(config_file):
    config = config_lib.load_config(config_file, ["input.train_buckets=3", "pipeline.enable_cache=false"])
    assert config.input.train_buckets == 3
    assert config.pipeline.enable_cache is False


def test_override_switches_input_format_and_path(config_file, tmp_path):
    (tmp_path / "data" / "csv" / "span-1").mkdir(parents=True)
    (tmp_path / "data" / "csv" / "span-1" / "data.csv").write_text("a\n1\n")
    config = config_lib.load_config(config_file, ["input.format=csv", f"input.path={tmp_path}/data/csv"])
    assert config.input.path == str(tmp_path / "data" / "csv") and config.input.format == "csv"


def test_a_flat_file_pattern_needs_no_spans(config_file, tmp_path):
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "part-1.csv").write_text("a\n1\n")
    config = config_lib.load_config(config_file, [f"input.path={tmp_path}/flat", "input.pattern=*.csv"])
    assert not config.input.has_spans
    with pytest.raises(
        config_lib.ConfigError, match=r"input\.path: no input files in .* match input\.pattern '\*\.tfr'"
    ):
        config_lib.load_config(config_file, [f"input.path={tmp_path}/flat", "input.pattern=*.tfr"])


def test_override_list_value(config_file):
    config = config_lib.load_config(config_file, ["beam.args=[--runner=FlinkRunner, --flink_master=host:8081]"])
    assert config.beam.args == ("--runner=FlinkRunner", "--flink_master=host:8081")


def test_unknown_key_in_file_names_file_and_key(config_file):
    _replace(config_file, "  format: tfrecord", "  fromat: tfrecord")
    with pytest.raises(config_lib.ConfigError) as raised:
        config_lib.load_config(config_file)
    message = str(raised.value)
    assert str(config_file) in message
    assert "input.fromat: unknown key" in message


def test_unknown_key_in_override_names_the_flag(config_file):
    with pytest.raises(config_lib.ConfigError, match=r"input\.colour: unknown key \(from --set 'input\.colour=red'\)"):
        config_lib.load_config(config_file, ["input.colour=red"])


def test_number_written_as_string_is_rejected(config_file):
    _replace(config_file, "  format: tfrecord", "  format: tfrecord\n  train_buckets: '2'")
    with pytest.raises(config_lib.ConfigError, match=r"input\.train_buckets: .*valid integer.*got '2'"):
        config_lib.load_config(config_file)


def test_wrong_choice_lists_the_expected_values(config_file):
    with pytest.raises(config_lib.ConfigError, match=r"validation\.fail_on: .*'error' or 'warning'.*got 'fatal'"):
        config_lib.load_config(config_file, ["validation.fail_on=fatal"])


def test_missing_required_key(config_file):
    _replace(config_file, "  fail_on: error\n", "")
    with pytest.raises(config_lib.ConfigError, match=r"validation\.fail_on: required key is missing"):
        config_lib.load_config(config_file)


def test_pipeline_name_must_be_a_dns_label(config_file):
    with pytest.raises(config_lib.ConfigError, match=r"pipeline\.name"):
        config_lib.load_config(config_file, ["pipeline.name=Taxi_Pipeline"])


def test_missing_input_path_names_key_and_file(config_file, tmp_path):
    with pytest.raises(config_lib.ConfigError) as raised:
        config_lib.load_config(config_file, [f"input.path={tmp_path}/nowhere"])
    message = str(raised.value)
    assert str(config_file) in message and "input.path" in message and "nowhere" in message
    assert "make data" in message


def test_empty_input_folder_names_folder_and_pattern(config_file, tmp_path):
    empty = tmp_path / "empty"
    (empty / "span-1").mkdir(parents=True)
    with pytest.raises(config_lib.ConfigError) as raised:
        config_lib.load_config(config_file, [f"input.path={empty}"])
    message = str(raised.value)
    assert "input.path" in message and str(empty) in message and "span-{SPAN}/*" in message


def test_missing_schema_names_key(config_file, tmp_path):
    with pytest.raises(config_lib.ConfigError, match=r"validation\.schema_path: .*missing\.pbtxt' does not exist"):
        config_lib.load_config(config_file, [f"validation.schema_path={tmp_path}/missing.pbtxt"])


def test_remote_paths_are_not_checked_locally(config_file):
    config = config_lib.load_config(
        config_file, ["input.path=gs://bucket/taxi", "validation.schema_path=gs://bucket/schema.pbtxt"]
    )
    assert config.input.path == "gs://bucket/taxi"


def test_local_path_checks_can_be_skipped(config_file):
    config = config_lib.load_config(config_file, ["input.path=/in/the/image"], check_local_paths=False)
    assert config.input.path == "/in/the/image"


@pytest.mark.parametrize("override", ["input.format", "=csv", "input..format=csv"])
def test_malformed_override(config_file, override):
    with pytest.raises(config_lib.ConfigError, match="KEY=VALUE"):
        config_lib.load_config(config_file, [override])


def test_override_into_a_value_is_rejected(config_file):
    with pytest.raises(config_lib.ConfigError, match=r"input\.format is a value, not a section"):
        config_lib.load_config(config_file, ["input.format.kind=csv"])


def test_missing_file():
    with pytest.raises(config_lib.ConfigError, match=r"nope\.yaml: config file not found"):
        config_lib.load_config("nope.yaml")


def test_top_level_must_be_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(config_lib.ConfigError, match="expected a mapping"):
        config_lib.load_config(path)


def test_invalid_yaml(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("pipeline: [unclosed\n")
    with pytest.raises(config_lib.ConfigError, match="not valid YAML"):
        config_lib.load_config(path)


def test_a_folder_or_a_file_that_is_not_text_is_named_in_one_line(tmp_path, config_file):
    with pytest.raises(config_lib.ConfigError, match=rf"^{tmp_path}: is a folder, not a config file$"):
        config_lib.load_config(tmp_path)
    binary = tmp_path / "latin1.yaml"
    binary.write_bytes(config_file.read_bytes() + "# caf\xe9\n".encode("latin-1"))
    with pytest.raises(config_lib.ConfigError, match=rf"^{binary}: not UTF-8 text \(byte \d+\)"):
        config_lib.load_config(binary)


def test_a_schema_that_is_a_folder_or_not_text_is_named(config_file, tmp_path):
    (tmp_path / "schema_folder").mkdir()
    with pytest.raises(config_lib.ConfigError, match=r"schema_folder: is a folder, not a schema\.pbtxt"):
        config_lib.load_config(config_file, [f"validation.schema_path={tmp_path / 'schema_folder'}"])
    binary = tmp_path / "schema.pbtxt"
    binary.write_bytes(b'feature { name: "x\xff" }')
    with pytest.raises(config_lib.ConfigError, match=r"schema.pbtxt: not UTF-8 text \(byte 18\)"):
        config_lib.load_config(config_file, [f"validation.schema_path={binary}"])


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_a_threshold_that_is_not_a_finite_number_is_refused(config_file, value):
    with pytest.raises(config_lib.ConfigError, match=r"evaluator\.threshold"):
        config_lib.load_config(config_file, [f"evaluator.threshold={value}", "task.type=regression"])


def test_config_is_frozen(config_file):
    config = config_lib.load_config(config_file)
    with pytest.raises(pydantic.ValidationError):
        config.pipeline.name = "other"


@pytest.mark.parametrize(
    ("pattern", "message"),
    [("a-{SPAN}/b-{SPAN}", r"\{SPAN\} once at most"), ("/abs/*", "relative to input.path"), ("", "relative")],
)
def test_input_pattern_is_checked(config_file, pattern, message):
    with pytest.raises(config_lib.ConfigError, match=rf"input\.pattern: .*{message}"):
        config_lib.load_config(config_file, [f"input.pattern='{pattern}'"], check_local_paths=False)


def test_span_dir_follows_the_pattern(config_file):
    config = config_lib.load_config(
        config_file, ["input.path=/data", "input.pattern=day={SPAN}/part-*"], check_local_paths=False
    )
    assert config.input.span_dir(7) == "/data/day=7"


def test_span_dir_needs_a_span_folder(config_file):
    config = config_lib.load_config(config_file, ["input.pattern=data-{SPAN}.csv"], check_local_paths=False)
    with pytest.raises(config_lib.ConfigError, match="no folder with"):
        config.input.span_dir(1)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["evaluator.threshold=1.5"], r"evaluator\.threshold: an AUC floor lies in \[0, 1\], got 1\.5"),
        (
            ["task.type=regression", "task.label=fare", "task.label_expression=null", "evaluator.threshold=0"],
            r"evaluator\.threshold: an RMSE ceiling must be above 0",
        ),
    ],
)
def test_the_threshold_must_fit_the_task_metric(config_file, overrides, message):
    with pytest.raises(config_lib.ConfigError, match=message):
        config_lib.load_config(config_file, overrides)


def test_the_threshold_has_no_default(config_file):
    _replace(config_file, "  threshold: 0.9\n", "  max_relative_drop: 0.02\n")
    with pytest.raises(config_lib.ConfigError, match=r"evaluator\.threshold: required key is missing"):
        config_lib.load_config(config_file)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["task.type=ranking"], r"task\.type: .*'binary', 'multiclass' or 'regression'"),
        (["task.label_fn=my.labels.fn"], r"task: .*set label_expression or label_fn, not both"),
        (["task.type=regression", "task.positive_class=yes"], r"positive_class applies to binary tasks only"),
        (["task.features.overrides.fare.kind=text"], r"task\.features\.overrides\.fare\.kind"),
    ],
)
def test_task_section_errors_name_their_key(config_file, overrides, message):
    with pytest.raises(config_lib.ConfigError, match=message):
        config_lib.load_config(config_file, overrides)


def test_trainer_and_tuner_sections_are_typed(config_file):
    config = config_lib.load_config(config_file, ["trainer.hyperparameters.units=128", "tuner.algorithm=bayesian"])
    assert config.trainer.hyperparameters.units == 128
    assert config.trainer.hyperparameters.learning_rate == 3e-3  # the model's default
    assert config.trainer.strategy == "auto" and config.tuner.algorithm == "bayesian"


def test_unknown_hyperparameter_names_the_nested_key(config_file):
    with pytest.raises(config_lib.ConfigError, match=r"trainer\.hyperparameters\.colour: unknown key"):
        config_lib.load_config(config_file, ["trainer.hyperparameters.colour=1"])


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("trainer.strategy=parameter_server", "trainer.strategy"),
        ("evaluator.max_relative_drop=2", "evaluator.max_relative_drop"),
        ("trainer.batch_size=0", "trainer.batch_size"),
        ("tuner.algorithm=grid", "tuner.algorithm"),
    ],
)
def test_out_of_range_or_unknown_values_name_their_key(config_file, override, key):
    with pytest.raises(config_lib.ConfigError, match=key.replace(".", r"\.")):
        config_lib.load_config(config_file, [override])


def test_print_value_command():
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.config", str(LOCAL_CONFIG), "pipeline.name"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=True,
    )
    assert result.stdout.strip() == "taxi-local"


def _thresholds_file(tmp_path: pathlib.Path, text: str) -> pathlib.Path:
    path = tmp_path / "drift.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_the_drift_thresholds_file_is_read_and_typed(config_file, tmp_path):
    thresholds = _thresholds_file(
        tmp_path,
        """
        features:
          fare: {distance: 0.07, missing: 0.02}
        label: {classes: 0.05}
        """,
    )
    config = config_lib.load_config(config_file, [f"validation.drift_thresholds={thresholds}"])
    loaded = config_lib.load_drift_thresholds(config)
    assert loaded.features["fare"].distance == 0.07 and loaded.label.classes == 0.05
    assert loaded.default.distance == 0.1, "inputs the file does not list get the default"
    defaults = config_lib.load_drift_thresholds(config_lib.load_config(config_file))
    assert defaults.features == {} and defaults.label.classes == 0.1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("features:\n  fare: {distance: 2.0, missing: 0.02}\n", r"features.fare.distance: Input should be less than"),
        ("features:\n  fare: {distance: 0.1}\n", r"features.fare.missing: required key is missing"),
        ("features:\n  no_such_input: {distance: 0.1, missing: 0.1}\n", r"\['no_such_input'\] are not model inputs"),
        ("- a list\n", r"expected a mapping"),
    ],
)
def test_a_bad_thresholds_file_names_the_file_and_the_key(config_file, tmp_path, text, message):
    thresholds = _thresholds_file(tmp_path, text)
    with pytest.raises(config_lib.ConfigError, match=message) as raised:
        config_lib.load_config(config_file, [f"validation.drift_thresholds={thresholds}"])
    assert str(thresholds) in str(raised.value)


def test_a_missing_thresholds_file_says_how_to_write_one(config_file, tmp_path):
    with pytest.raises(
        config_lib.ConfigError, match=r"validation.drift_thresholds: .* is not a file .*init_dataset drift"
    ):
        config_lib.load_config(config_file, [f"validation.drift_thresholds={tmp_path / 'none.yaml'}"])


def test_an_unchecked_input_needs_a_reason_and_must_be_an_input(config_file, tmp_path):
    limits = "features:\n  fare: {distance: 0.1, missing: 0.1}\n"
    blank = _thresholds_file(tmp_path, limits + "unchecked:\n  trip_miles: ''\n")
    with pytest.raises(config_lib.ConfigError, match=r"unchecked: .*give the reason"):
        config_lib.load_config(config_file, [f"validation.drift_thresholds={blank}"])
    typo = _thresholds_file(tmp_path, limits + "unchecked:\n  trip_milez: follows the odometer\n")
    with pytest.raises(config_lib.ConfigError, match=r"unchecked: \['trip_milez'\] are not model inputs"):
        config_lib.load_config(config_file, [f"validation.drift_thresholds={typo}"])
    good = _thresholds_file(tmp_path, limits + "unchecked:\n  trip_miles: follows the odometer\n")
    config = config_lib.load_config(config_file, [f"validation.drift_thresholds={good}"])
    assert config_lib.load_drift_thresholds(config).unchecked == {"trip_miles": "follows the odometer"}


def test_a_serving_root_in_object_storage_without_conditional_writes_is_refused(tmp_path):
    from tests.conftest import build_config

    with pytest.raises(config_lib.ConfigError, match=r"pusher.serving_root.*gs:// URI.*got 's3://bucket/serving'"):
        build_config(
            tmp_path / "in", tmp_path / "out", "pusher.serving_root=s3://bucket/serving", check_local_paths=False
        )
    config = build_config(
        tmp_path / "in", tmp_path / "out", "pusher.serving_root=gs://b/serving", check_local_paths=False
    )
    assert config.pusher.serving_root == "gs://b/serving"
