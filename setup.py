"""Installs the pipeline packages: common, trainer, launcher, components and pipelines.

Direct dependencies are declared here once; `make lock` compiles them into the
fully pinned requirements.lock that every environment (local venv, CI, the
container image) installs from.
"""

import setuptools

# The pinned stack: these versions are known to install and work together.
RUNTIME_REQUIREMENTS = [
    "tfx==1.16.0",
    "tensorflow==2.16.2",
    "keras==3.6.0",
    "tf-keras==2.16.0",
    "keras-tuner==1.4.7",
    "tensorflow-data-validation==1.16.1",
    "tensorflow-transform==1.16.0",
    "tensorflow-model-analysis==0.47.1",
    "apache-beam[gcp]==2.59.0",
    "kfp==2.5.0",
    "protobuf==3.20.3",
    "numpy==1.26.4",
    "pydantic>=2.7,<3",
    "pyyaml>=6",
    "kubernetes>=26",
    # The object-storage push and its lease: generation preconditions (common/object_store.py).
    "google-cloud-storage>=2.19,<3",
    # TensorBoard 2.16 imports pkg_resources, which setuptools 81 removed.
    "setuptools>=70,<81",
]

DEV_REQUIREMENTS = [
    "pytest>=8",
    "pytest-timeout>=2.3",
    "pytest-xdist>=3.5",
    "ruff>=0.6",
    "jsonschema>=4.20",
    "kubernetes-validate>=1.31",
]

setuptools.setup(
    name="tfx-distributed-pipeline",
    version="0.1.0",
    description="TFX pipeline with validation gate, tuning and multi-worker training.",
    python_requires=">=3.10,<3.11",
    packages=setuptools.find_packages(include=["common*", "trainer*", "launcher*", "components*", "pipelines*"]),
    package_data={"pipelines": ["configs/*.yaml"]},
    install_requires=RUNTIME_REQUIREMENTS,
    extras_require={"dev": DEV_REQUIREMENTS},
)
