"""Compiles the pipeline for Kubeflow Pipelines (KFP v2) and sends it to a KFP endpoint.

  python -m pipelines.kubeflow_runner compile  [--config FILE] [--set KEY=VALUE ...]
  python -m pipelines.kubeflow_runner upload   [--config FILE] [--set kubeflow.endpoint=URL]
  python -m pipelines.kubeflow_runner run      [--config FILE]
  python -m pipelines.kubeflow_runner schedule [--config FILE]

`compile` builds the same `create_pipeline(config)` as the local runner and
writes it with KubeflowV2DagRunner (the only Kubeflow runner in TFX 1.16; the
TFX CLI's kubeflow engine is broken there, so it is not used). The other
commands use the `kfp` client against `kubeflow.endpoint`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from pipelines import config as config_lib

__all__ = ["DEFAULT_CONFIG", "compile_pipeline", "main", "run_now", "schedule", "upload"]

DEFAULT_CONFIG = "pipelines/configs/kubeflow.yaml"


def _kubeflow(config: config_lib.PipelineConfig) -> config_lib.KubeflowConfig:
    if config.kubeflow is None:
        raise config_lib.ConfigError("the config has no kubeflow section (image, endpoint, ...)")
    return config.kubeflow


def compile_pipeline(config: config_lib.PipelineConfig) -> str:
    """Writes the KFP v2 pipeline spec (YAML) to kubeflow.package_path; returns that path."""
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

    from pipelines import pipeline as pipeline_lib

    kubeflow = _kubeflow(config)
    output_dir, filename = os.path.split(os.path.abspath(kubeflow.package_path))
    os.makedirs(output_dir, exist_ok=True)
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
        config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(default_image=kubeflow.image),
        output_dir=output_dir,
        output_filename=filename,
    )
    # No metadata connection: Kubeflow Pipelines brings its own ML Metadata.
    runner.run(pipeline_lib.create_pipeline(config), write_out=True)
    return os.path.join(output_dir, filename)


def upload(client, config: config_lib.PipelineConfig, package_path: str, version: str) -> str:
    """Uploads the spec as a new pipeline, or a new version of it; returns the pipeline id."""
    name = config.pipeline.name
    pipeline_id = client.get_pipeline_id(name)
    if pipeline_id is None:
        return client.upload_pipeline(pipeline_package_path=package_path, pipeline_name=name).pipeline_id
    client.upload_pipeline_version(
        pipeline_package_path=package_path, pipeline_version_name=f"{name}-{version}", pipeline_id=pipeline_id
    )
    return pipeline_id


def run_now(client, config: config_lib.PipelineConfig, package_path: str, run_name: str) -> str:
    """Starts one run of the spec in the configured experiment; returns the run id."""
    kubeflow = _kubeflow(config)
    result = client.create_run_from_pipeline_package(
        pipeline_file=package_path,
        arguments={},
        run_name=run_name,
        experiment_name=kubeflow.experiment,
        namespace=kubeflow.namespace,
    )
    return result.run_id


def schedule(client, config: config_lib.PipelineConfig, package_path: str, job_name: str) -> str:
    """Creates a recurring run on kubeflow.schedule (retraining on the latest span); returns its id."""
    kubeflow = _kubeflow(config)
    experiment = client.create_experiment(kubeflow.experiment, namespace=kubeflow.namespace)
    recurring = client.create_recurring_run(
        experiment_id=experiment.experiment_id,
        job_name=job_name,
        cron_expression=kubeflow.schedule,
        pipeline_package_path=package_path,
        max_concurrency=1,
        no_catchup=True,
    )
    return recurring.recurring_run_id


def _client(config: config_lib.PipelineConfig):
    import kfp

    kubeflow = _kubeflow(config)
    if not kubeflow.endpoint:
        raise config_lib.ConfigError(
            "kubeflow.endpoint is not set (e.g. --set kubeflow.endpoint=http://localhost:8080)"
        )
    return kfp.Client(host=kubeflow.endpoint, namespace=kubeflow.namespace)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Compile for and run on Kubeflow Pipelines.")
    parser.add_argument("command", choices=["compile", "upload", "run", "schedule"])
    parser.add_argument("--config", default=DEFAULT_CONFIG, help=f"pipeline config YAML (default: {DEFAULT_CONFIG})")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    try:
        # Paths are in object storage or in the image: nothing to check on this machine.
        config = config_lib.load_config(args.config, args.overrides, check_local_paths=False)
        package = compile_pipeline(config)
        print(f"compiled {package} (image {_kubeflow(config).image})")
        if args.command == "compile":
            return 0
        import datetime

        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        client = _client(config)
        if args.command == "upload":
            print(f"uploaded pipeline {config.pipeline.name}: id {upload(client, config, package, stamp)}")
        elif args.command == "run":
            print(f"started run {run_now(client, config, package, f'{config.pipeline.name}-{stamp}')}")
        else:
            job = f"{config.pipeline.name}-recurring"
            print(f"scheduled {job} ({_kubeflow(config).schedule}): id {schedule(client, config, package, job)}")
    except config_lib.ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
