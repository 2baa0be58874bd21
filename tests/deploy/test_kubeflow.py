"""The compiled Kubeflow pipeline matches the local one, runs the configured image, and reaches KFP."""

from __future__ import annotations

import json
from unittest import mock

import kfp
import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from pipelines import config as config_lib
from pipelines import kubeflow_runner
from pipelines import pipeline as pipeline_lib
from tests.deploy import checks

pytestmark = pytest.mark.deploy

KUBEFLOW_CONFIG = checks.REPO_ROOT / "pipelines" / "configs" / "kubeflow.yaml"
IMAGE = "registry.example/tfx-pipeline:1.2.3"
RESOLVER = pipeline_lib.MODEL_RESOLVER_ID


def _config(tmp_path, *overrides: str) -> config_lib.PipelineConfig:
    return config_lib.load_config(
        KUBEFLOW_CONFIG,
        [f"kubeflow.image={IMAGE}", f"kubeflow.package_path={tmp_path / 'taxi.yaml'}", *overrides],
        check_local_paths=False,
    )


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    config = _config(tmp_path_factory.mktemp("kfp"))
    path = kubeflow_runner.compile_pipeline(config)
    spec = json_format.ParseDict(yaml.safe_load(open(path)), pipeline_spec_pb2.PipelineSpec())
    return config, spec


def _task_component(task_name: str) -> str:
    """The local component a KFP task comes from (the resolver compiles into one task per input)."""
    return RESOLVER if task_name.startswith(f"{RESOLVER}-") else task_name


def test_spec_parses_as_a_kfp_v2_pipeline(compiled):
    config, spec = compiled
    assert spec.pipeline_info.name == config.pipeline.name
    assert spec.schema_version == "2.0.0" and spec.sdk_version == "tfx-1.16.0"


def test_tasks_and_dependencies_match_the_local_pipeline(compiled):
    config, spec = compiled
    local = pipeline_lib.create_pipeline(config)
    local_upstream = {node.id: {upstream.id for upstream in node.upstream_nodes} for node in local.components}
    tasks = spec.root.dag.tasks
    assert {_task_component(name) for name in tasks} == set(local_upstream)
    for name, task in tasks.items():
        depends_on = {_task_component(dependency) for dependency in task.dependent_tasks}
        assert depends_on == local_upstream[_task_component(name)], name


def test_every_container_runs_the_configured_image(compiled):
    _, spec = compiled
    executors = json_format.MessageToDict(spec.deployment_spec)["executors"]
    containers = {
        name: executor["container"]["image"] for name, executor in executors.items() if "container" in executor
    }
    others = set(executors) - set(containers)
    assert set(containers.values()) == {IMAGE}
    # The two resolvers compile to resolver specs run by the KFP backend, not containers.
    resolvers = (RESOLVER, pipeline_lib.STATISTICS_RESOLVER_ID)
    assert len(containers) == len(pipeline_lib.create_pipeline(compiled[0]).components) - len(resolvers)
    assert all(name.startswith(resolvers) and "resolver" in executors[name] for name in others), others
    assert {name.split("-")[0].removesuffix("_executor") for name in others} == set(resolvers)


def test_the_gate_stops_training_on_kubeflow_too(compiled):
    _, spec = compiled
    assert "ValidationGate" in spec.root.dag.tasks["Transform"].dependent_tasks
    assert "ValidationGate" in spec.root.dag.tasks["Trainer"].dependent_tasks


def _client():
    return mock.create_autospec(kfp.Client, instance=True)


def test_upload_creates_the_pipeline_then_adds_versions(tmp_path):
    config = _config(tmp_path)
    client = _client()
    client.get_pipeline_id.return_value = None
    client.upload_pipeline.return_value = mock.Mock(pipeline_id="p-1")
    assert kubeflow_runner.upload(client, config, "spec.yaml", "v1") == "p-1"
    client.upload_pipeline.assert_called_once_with(pipeline_package_path="spec.yaml", pipeline_name="taxi-kubeflow")

    client.get_pipeline_id.return_value = "p-1"
    assert kubeflow_runner.upload(client, config, "spec.yaml", "v2") == "p-1"
    client.upload_pipeline_version.assert_called_once_with(
        pipeline_package_path="spec.yaml", pipeline_version_name="taxi-kubeflow-v2", pipeline_id="p-1"
    )


def test_run_and_schedule_go_into_the_configured_experiment(tmp_path):
    config = _config(tmp_path, "kubeflow.namespace=team-a", "kubeflow.schedule=0 30 2 * * *")
    client = _client()
    client.create_run_from_pipeline_package.return_value = mock.Mock(run_id="r-1")
    assert kubeflow_runner.run_now(client, config, "spec.yaml", "taxi-now") == "r-1"
    client.create_run_from_pipeline_package.assert_called_once_with(
        pipeline_file="spec.yaml",
        arguments={},
        run_name="taxi-now",
        experiment_name="taxi-kubeflow",
        namespace="team-a",
    )

    client.create_experiment.return_value = mock.Mock(experiment_id="e-1")
    client.create_recurring_run.return_value = mock.Mock(recurring_run_id="rr-1")
    assert kubeflow_runner.schedule(client, config, "spec.yaml", "taxi-recurring") == "rr-1"
    client.create_experiment.assert_called_once_with("taxi-kubeflow", namespace="team-a")
    client.create_recurring_run.assert_called_once_with(
        experiment_id="e-1",
        job_name="taxi-recurring",
        cron_expression="0 30 2 * * *",
        pipeline_package_path="spec.yaml",
        max_concurrency=1,
        no_catchup=True,
    )


def test_a_five_field_cron_is_refused_naming_the_key(tmp_path):
    with pytest.raises(config_lib.ConfigError, match=r"kubeflow\.schedule: .*6 fields"):
        _config(tmp_path, "kubeflow.schedule=0 3 * * *")


def test_commands_without_an_endpoint_say_what_to_set(tmp_path, capsys):
    code = kubeflow_runner.main(
        ["run", "--config", str(KUBEFLOW_CONFIG), "--set", f"kubeflow.package_path={tmp_path / 'x.yaml'}"]
    )
    assert code == 2
    assert "kubeflow.endpoint is not set" in capsys.readouterr().err


def _parameter(task, name: str):
    """A task's constant parameter, as KFP v2's spec holds it: an int or a string."""
    value = json_format.MessageToDict(task.inputs.parameters[name].runtime_value.constant_value)
    return int(value["intValue"]) if "intValue" in value else value["stringValue"]


def test_a_rolling_window_compiles_with_the_span_driver_and_no_span_range_resolver(tmp_path):
    config = _config(tmp_path, "input.window_spans=3", "input.analyzer_cache=true")
    path = kubeflow_runner.compile_pipeline(config)
    spec = json_format.ParseDict(yaml.safe_load(open(path)), pipeline_spec_pb2.PipelineSpec())
    tasks = spec.root.dag.tasks
    example_gen = tasks[pipeline_lib.EXAMPLE_GEN_ID]
    assert _parameter(example_gen, "window_spans") == 3
    assert _parameter(example_gen, "window_pattern") == "span-{SPAN}/*"
    executors = json_format.MessageToDict(spec.deployment_spec)["executors"]
    example_gen_container = executors[spec.components[example_gen.component_ref.name].executor_label]["container"]
    # KFP v2 runs TFX's span-resolving driver before the executor: the newest span and its fingerprint.
    assert "file_based_example_gen.driver" in " ".join(example_gen_container["lifecycle"]["preCacheCheck"]["command"])
    older = ["older1_train", "older1_eval", "older2_train", "older2_eval"]
    splits_config = json.loads(_parameter(tasks[pipeline_lib.TRANSFORM_ID], "splits_config"))
    # Transform analyses the window's training splits and writes no transformed copy of any split.
    assert splits_config["analyze"] == ["train", *older] and not splits_config.get("transform")
    assert _parameter(tasks[pipeline_lib.TRANSFORM_ID], "analyzer_cache_dir") == "gs://BUCKET/tfx/root/analyzer_cache"
    train_args = json.loads(_parameter(tasks[pipeline_lib.TRAINER_ID], "train_args"))
    assert train_args["splits"] == ["train", *older]
    for reader in (pipeline_lib.TRAINER_ID, pipeline_lib.TUNER_ID):  # they read ExampleGen's examples
        source = tasks[reader].inputs.artifacts["examples"].task_output_artifact
        assert source.producer_task == pipeline_lib.EXAMPLE_GEN_ID and source.output_artifact_key == "examples"
    resolvers = [name for name, executor in executors.items() if "resolver" in executor]
    allowed = (RESOLVER, pipeline_lib.STATISTICS_RESOLVER_ID)  # LatestBlessedModel and LatestArtifact strategies
    assert resolvers and all(name.startswith(allowed) for name in resolvers), f"no span-range resolver: {resolvers}"
