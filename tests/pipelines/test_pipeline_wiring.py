"""The wiring: TFX's components with our executor swaps, what reaches each cache key, workers and tuners."""

from __future__ import annotations

import json

import pytest
from tfx import components as tfx_components

from common.code_version import code_version
from components.distributed_trainer import DistributedTrainer
from launcher.launch import LAUNCHER_KEY, NUM_WORKERS_KEY
from pipelines import pipeline as pipeline_lib
from tests.conftest import build_config

# What runs where by default: (node class, executor class) by component id.
DEFAULT_WIRING = {
    pipeline_lib.EXAMPLE_GEN_ID: ("ImportExampleGen", "FastImportExecutor"),
    pipeline_lib.STATISTICS_GEN_ID: ("StatisticsGen", "FastStatisticsExecutor"),
    pipeline_lib.SCHEMA_GEN_ID: ("CuratedSchemaGen", "Executor"),
    pipeline_lib.EXAMPLE_VALIDATOR_ID: ("ExampleValidator", "Executor"),
    pipeline_lib.VALIDATION_GATE_ID: ("ValidationGate", "ValidationGateExecutor"),
    pipeline_lib.TRANSFORM_ID: ("Transform", "FastTransformExecutor"),
    pipeline_lib.TUNER_ID: ("Tuner", "DistributedTunerExecutor"),
    pipeline_lib.TRAINER_ID: ("DistributedTrainer", "DistributedTrainerExecutor"),
    pipeline_lib.MODEL_RESOLVER_ID: ("Resolver", "EmptyExecutor"),
    pipeline_lib.STATISTICS_RESOLVER_ID: ("Resolver", "EmptyExecutor"),
    pipeline_lib.EVALUATOR_ID: ("Evaluator", "FastEvaluatorExecutor"),
    pipeline_lib.PUSHER_ID: ("AtomicPusher", "AtomicPushExecutor"),
}
# The components whose stock executor `performance.fast_executors: false` restores.
FAST_SWAPS = (
    pipeline_lib.EXAMPLE_GEN_ID,
    pipeline_lib.STATISTICS_GEN_ID,
    pipeline_lib.TRANSFORM_ID,
    pipeline_lib.EVALUATOR_ID,
)


def _component(config, component_id):
    pipeline = pipeline_lib.create_pipeline(config)
    (found,) = [component for component in pipeline.components if component.id == component_id]
    return found


def _custom_config(component) -> dict:
    return json.loads(component.exec_properties["custom_config"])


@pytest.fixture
def make(tmp_path):
    return lambda *overrides: build_config(tmp_path / "in", tmp_path / "out", *overrides, check_local_paths=False)


def test_one_worker_trains_in_process_and_keeps_the_training_statistics(make):
    trainer = _component(make(), pipeline_lib.TRAINER_ID)
    assert isinstance(trainer, DistributedTrainer)
    assert NUM_WORKERS_KEY not in _custom_config(trainer), "nothing to launch"
    assert trainer.inputs["statistics"].producer_component_id == pipeline_lib.STATISTICS_GEN_ID


def test_several_workers_choose_the_distributed_trainer(make):
    trainer = _component(make("trainer.num_workers=3", "launcher.max_restarts=5"), pipeline_lib.TRAINER_ID)
    assert isinstance(trainer, DistributedTrainer)
    custom_config = _custom_config(trainer)
    assert custom_config[NUM_WORKERS_KEY] == 3
    assert custom_config[LAUNCHER_KEY]["max_restarts"] == 5 and custom_config[LAUNCHER_KEY]["backend"] == "local"


def test_parallel_tuning_passes_its_worker_count_and_launcher(make):
    tuner = _component(make("tuner.num_workers=2", "launcher.backend=kubernetes"), pipeline_lib.TUNER_ID)
    custom_config = _custom_config(tuner)
    assert custom_config[NUM_WORKERS_KEY] == 2 and custom_config[LAUNCHER_KEY]["backend"] == "kubernetes"


def test_checkpoints_default_under_the_pipeline_root(make, tmp_path):
    trainer = _component(make(), pipeline_lib.TRAINER_ID)
    settings = _custom_config(trainer)["settings"]
    assert settings["checkpoint_root"] == str(tmp_path / "out" / "pipeline_root" / "checkpoints")


def _cache_relevant(component) -> dict:
    """What TFX keys a component's cache on, besides its inputs: its executor spec and its parameters."""
    spec = component.executor_spec
    return {"executor": spec.executor_class, "flags": list(spec.extra_flags), **component.exec_properties}


def _wiring(config) -> dict[str, tuple[str, str]]:
    return {
        component.id: (type(component).__name__, component.executor_spec.executor_class.__name__)
        for component in pipeline_lib.create_pipeline(config).components
    }


def test_the_default_dag_is_tfxs_with_our_executors_where_they_are_faster(make):
    assert _wiring(make()) == DEFAULT_WIRING
    ours = {node for node, _ in DEFAULT_WIRING.values()} - set(tfx_components.__all__) - {"Resolver"}
    assert ours == {"CuratedSchemaGen", "ValidationGate", "DistributedTrainer", "AtomicPusher"}


def test_without_fast_executors_tfxs_own_run_in_the_stock_components(make):
    wiring = {component.id: component for component in pipeline_lib.create_pipeline(make()).components}
    stock = {
        component.id: component
        for component in pipeline_lib.create_pipeline(make("performance.fast_executors=false")).components
    }
    for component_id, component in stock.items():
        executor = component.executor_spec.executor_class
        if component_id in FAST_SWAPS:
            assert executor is type(component).EXECUTOR_SPEC.executor_class, component_id
            assert executor.__module__.startswith("tfx.components."), component_id
            assert not getattr(component.executor_spec, "extra_flags", []), component_id
        else:
            assert executor is wiring[component_id].executor_spec.executor_class, component_id


@pytest.mark.parametrize(
    ("overrides", "example_gen", "executor"),
    [
        (("input.format=csv",), "CsvExampleGen", "WindowedCsvExecutor"),
        (("input.format=csv", "performance.fast_executors=false"), "CsvExampleGen", "Executor"),
        (("input.window_spans=3",), "WindowedExampleGen", "FastImportExecutor"),
        (("input.window_spans=3", "performance.fast_executors=false"), "WindowedExampleGen", "WindowedImportExecutor"),
        (("input.window_spans=3", "input.format=csv"), "WindowedExampleGen", "WindowedCsvExecutor"),
    ],
)
def test_the_example_gen_follows_the_format_and_the_window(make, overrides, example_gen, executor):
    assert _wiring(make(*overrides))[pipeline_lib.EXAMPLE_GEN_ID] == (example_gen, executor)


def test_an_analyzer_cache_over_a_window_uses_the_span_cached_transform(make):
    wiring = _wiring(make("input.window_spans=2", "input.analyzer_cache=true"))
    assert wiring[pipeline_lib.TRANSFORM_ID] == ("SpanCachedTransform", "SpanCachedTransformExecutor")


def _key(config, component_id: str) -> dict:
    return _cache_relevant(_component(config, component_id))


@pytest.mark.parametrize(
    ("override", "changes_the_trainer"),
    [
        ("trainer.train_steps=999", True),
        ("trainer.checkpoint_every_steps=7", True),
        ("trainer.num_workers=2", True),
        ("launcher.max_restarts=9", False),  # one worker and one tuner: nothing is launched
    ],
)
def test_a_trainer_or_launcher_setting_leaves_the_tuner_key_unchanged(make, override, changes_the_trainer):
    assert _key(make(), pipeline_lib.TUNER_ID) == _key(make(override), pipeline_lib.TUNER_ID)
    assert (
        _key(make(), pipeline_lib.TRAINER_ID) != _key(make(override), pipeline_lib.TRAINER_ID)
    ) is changes_the_trainer


@pytest.mark.parametrize("override", ["trainer.batch_size=64", "trainer.seed=7", "tuner.max_trials=9"])
def test_what_the_search_uses_changes_the_tuner_key(make, override):
    assert _key(make(), pipeline_lib.TUNER_ID) != _key(make(override), pipeline_lib.TUNER_ID)


def test_slices_change_only_the_evaluator(make):
    base, sliced = make(), make("task.slices=[company]")
    for component_id in (
        pipeline_lib.VALIDATION_GATE_ID,
        pipeline_lib.TRANSFORM_ID,
        pipeline_lib.TUNER_ID,
        pipeline_lib.TRAINER_ID,
    ):
        assert _key(base, component_id) == _key(sliced, component_id), component_id
    assert _key(base, pipeline_lib.EVALUATOR_ID) != _key(sliced, pipeline_lib.EVALUATOR_ID)


def test_each_component_running_our_code_carries_its_code_version(make):
    config = make()
    user_functions = {
        pipeline_lib.TRANSFORM_ID: "trainer.preprocessing",
        pipeline_lib.TUNER_ID: "trainer.tuning",
        pipeline_lib.TRAINER_ID: "trainer.task",
    }
    for component_id, module in user_functions.items():
        assert _custom_config(_component(config, component_id))["code_version"] == code_version(module), component_id
    for component in pipeline_lib.create_pipeline(config).components:
        executor = component.executor_spec.executor_class
        flags = list(getattr(component.executor_spec, "extra_flags", []))
        if executor.__module__.split(".")[0] == "components":
            assert flags == [f"--code_version={code_version(executor.__module__)}"], component.id
        else:
            assert flags == [], component.id


def test_train_steps_travel_once_as_tfxs_train_args(make):
    config = make("trainer.train_steps=321", "tuner.steps_per_trial=45")
    trainer, tuner = _component(config, pipeline_lib.TRAINER_ID), _component(config, pipeline_lib.TUNER_ID)
    assert json.loads(trainer.exec_properties["train_args"])["num_steps"] == 321
    assert "train_steps" not in _custom_config(trainer)["settings"]
    assert json.loads(tuner.exec_properties["train_args"])["num_steps"] == 45
    assert "steps_per_trial" not in _custom_config(tuner)["tuning"]


def _no_sdist():
    raise AssertionError("TFX built an sdist of itself for the Beam workers")


def test_beam_components_build_no_tfx_sdist(make, monkeypatch):
    from tfx.utils import dependency_utils

    from components.statistics_gen import FastStatisticsExecutor

    monkeypatch.setattr(dependency_utils, "build_ephemeral_package", _no_sdist)
    config = make()
    with pytest.raises(AssertionError, match="sdist"):  # what the configured flags alone would do
        dependency_utils.make_beam_dependency_flags(list(config.beam.args))
    args = pipeline_lib.beam_pipeline_args(config)
    assert args == [*config.beam.args, f"--sdk_container_image={pipeline_lib.PIPELINE_IMAGE}"]
    assert pipeline_lib.create_pipeline(config).beam_pipeline_args == args
    context = FastStatisticsExecutor.Context(beam_pipeline_args=args, tmp_dir="unused", unique_id="1")
    FastStatisticsExecutor(context)  # a real Beam executor: builds nothing


@pytest.mark.parametrize(
    "dependency", ["--setup_file=./setup.py", "--sdk_container_image=registry/x:1", "--extra_package=dist/a.tar.gz"]
)
def test_a_configured_beam_dependency_is_kept_as_it_is(make, dependency):
    config = make(f"beam.args=[--runner=DataflowRunner, {dependency}]")
    assert pipeline_lib.beam_pipeline_args(config) == ["--runner=DataflowRunner", dependency]


def test_the_workers_image_is_kubeflows_when_configured(make):
    config = make("kubeflow.image=registry.example/tfx-pipeline:1.2")
    assert pipeline_lib.beam_pipeline_args(config)[-1] == "--sdk_container_image=registry.example/tfx-pipeline:1.2"
