"""The Dockerfile: hadolint and checkov find nothing, and it matches the rest of the repo."""

from __future__ import annotations

import importlib.util
import pathlib
import re

import pytest
import yaml

from tests.deploy import checks

pytestmark = pytest.mark.deploy

DOCKERFILE = checks.REPO_ROOT / "Dockerfile"


def test_hadolint_reports_nothing():
    assert checks.hadolint_findings(DOCKERFILE) == []


def test_checkov_finds_nothing():
    assert checks.checkov_failures(DOCKERFILE, "dockerfile") == []


def test_base_image_is_the_repos_python_pinned_by_digest_with_its_tag_in_a_comment():
    text = DOCKERFILE.read_text()
    bases = re.findall(r"^FROM (\S+)", text, flags=re.MULTILINE)
    minor = ".".join((checks.REPO_ROOT / ".python-version").read_text().strip().split(".")[:2])
    pinned = re.fullmatch(r"(python:(\d+\.\d+)\.\d+-slim-bookworm)@sha256:[0-9a-f]{64}", bases[0])
    assert pinned, f"base not pinned by digest: {bases[0]}"
    tag, image_minor = pinned.groups()
    assert image_minor == minor, "the image runs the Python minor version the locks were resolved for"
    assert re.search(rf"^# Tag: {re.escape(tag)}\b", text, flags=re.MULTILINE)
    assert set(bases[1:]) == {"base"}, "every stage builds on the one pinned base"


def _pins(lock: str) -> dict[str, str]:
    text = (checks.REPO_ROOT / lock).read_text()
    return dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, flags=re.MULTILINE))


def test_the_image_lock_has_the_local_versions_without_the_development_tools():
    runtime, local = _pins("requirements-runtime.lock"), _pins("requirements.lock")
    assert {name: (local.get(name), version) for name, version in runtime.items() if local.get(name) != version} == {}
    assert {"pytest", "pytest-xdist", "ruff", "kubernetes-validate"} <= set(local) - set(runtime)
    assert {"tfx", "tensorflow", "kubernetes", "portpicker"} <= set(runtime)


def test_installs_the_runtime_lock_and_every_package():
    text = DOCKERFILE.read_text()
    assert "COPY requirements-runtime.lock" in text and "--require-hashes" in text
    for package in ("pipelines", "components", "trainer"):
        assert f"COPY {package} /src/{package}" in text
    assert "COPY schemas /app/schemas" in text and "WORKDIR /app" in text


def test_runs_as_the_uid_the_manifests_require():
    uid = re.search(r"^USER (\d+):(\d+)$", DOCKERFILE.read_text(), flags=re.MULTILINE)
    assert uid and uid.group(1) != "0"
    manifests = checks.render(checks.REPO_ROOT / "k8s" / "overlays" / "dev")
    run_as = {pod["securityContext"]["runAsUser"] for doc in manifests for _, pod in checks.pod_specs(doc)}
    assert run_as == {int(uid.group(1))}


def test_the_build_context_leaves_out_the_virtualenvs_and_data():
    ignored = (checks.REPO_ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".venv-tools", "data", "outputs", ".git"} <= set(ignored)


def test_every_install_into_the_image_compiles_bytecode():
    # The image sets PYTHONDONTWRITEBYTECODE and its user cannot write to /opt/venv: .pyc files
    # come from the build or not at all, and without them every pod compiles TensorFlow as it starts.
    text = DOCKERFILE.read_text()
    assert "PYTHONDONTWRITEBYTECODE=1" in text
    installs = re.findall(r"uv pip (?:sync|install) [^\n]*", text)
    assert len(installs) == 2 and all("--compile-bytecode" in line for line in installs), installs


@pytest.mark.parametrize("package", ["tensorflow", "tfx", "apache_beam"])
def test_the_local_venv_holds_bytecode_for_its_packages(package):
    # What `make` installs is compiled: a process imports TensorFlow, TFX and Beam from .pyc files.
    origin = importlib.util.find_spec(package).origin
    assert pathlib.Path(importlib.util.cache_from_source(origin)).is_file(), f"{origin} has no .pyc"


def test_uv_version_has_one_source():
    makefile = (checks.REPO_ROOT / "Makefile").read_text()
    assert "UV_VERSION := $(shell sed -n 's/^ARG UV_VERSION=//p' Dockerfile)" in makefile
    assert re.search(r"^ARG UV_VERSION=\d+\.\d+\.\d+$", DOCKERFILE.read_text(), flags=re.MULTILINE)


def test_kubeflow_tasks_use_the_image_skaffold_builds():
    skaffold = yaml.safe_load((checks.REPO_ROOT / "skaffold.yaml").read_text())
    kubeflow = yaml.safe_load((checks.REPO_ROOT / "pipelines" / "configs" / "kubeflow.yaml").read_text())
    image, tag = kubeflow["kubeflow"]["image"].split(":")
    assert image == skaffold["build"]["artifacts"][0]["image"]
    for overlay in checks.OVERLAYS:
        overlay_images = yaml.safe_load(
            (checks.REPO_ROOT / "k8s" / "overlays" / overlay / "kustomization.yaml").read_text()
        )["images"]
        assert overlay_images == [{"name": image, "newTag": tag}]


def test_a_root_user_and_an_unpinned_base_are_caught(tmp_path):
    broken = tmp_path / "Dockerfile"
    unpinned = "FROM python:latest AS base"
    text = re.sub(r"^FROM python:\S+ AS base$", unpinned, DOCKERFILE.read_text(), flags=re.MULTILINE)
    assert unpinned in text
    broken.write_text(text.replace("USER 10001:10001", "USER root"))
    findings = checks.hadolint_findings(broken)
    assert any(f"{broken}:" in line and "DL3007" in line for line in findings), findings
    assert any("DL3002" in line for line in findings), findings
    failures = checks.checkov_failures(broken, "dockerfile")
    assert any(f.startswith("Dockerfile: ") and "CKV_DOCKER_7" in f for f in failures), failures
    assert any("CKV_DOCKER_8" in f for f in failures), failures
