"""skaffold.yaml: valid against skaffold's schema, and every path it names exists."""

from __future__ import annotations

import pytest
import yaml

from tests.deploy import checks

pytestmark = pytest.mark.deploy

SKAFFOLD = checks.REPO_ROOT / "skaffold.yaml"


@pytest.fixture(scope="module")
def skaffold() -> dict:
    return yaml.safe_load(SKAFFOLD.read_text())


def test_validates_against_the_v4beta14_schema(skaffold):
    assert skaffold["apiVersion"] == "skaffold/v4beta14"
    assert checks.skaffold_errors(SKAFFOLD) == []


def test_profiles_dev_and_prod_point_at_overlays_that_exist(skaffold):
    profiles = {profile["name"]: profile["manifests"]["kustomize"]["paths"] for profile in skaffold["profiles"]}
    assert profiles == {"dev": ["k8s/overlays/dev"], "prod": ["k8s/overlays/prod"]}
    for paths in [*profiles.values(), skaffold["manifests"]["kustomize"]["paths"]]:
        for path in paths:
            assert (checks.REPO_ROOT / path / "kustomization.yaml").is_file(), path


def test_builds_the_dockerfile_and_forwards_a_service_that_exists(skaffold):
    (artifact,) = skaffold["build"]["artifacts"]
    assert (checks.REPO_ROOT / artifact["context"] / artifact["docker"]["dockerfile"]).is_file()
    (forward,) = skaffold["portForward"]
    docs = checks.render(checks.REPO_ROOT / "k8s" / "overlays" / "dev")
    services = {(doc["metadata"]["name"], doc["metadata"]["namespace"]) for doc in docs if doc["kind"] == "Service"}
    assert (forward["resourceName"], forward["namespace"]) in services
    (service,) = [doc for doc in docs if doc["kind"] == "Service" and doc["metadata"]["name"] == "tensorboard"]
    assert forward["port"] in {port["port"] for port in service["spec"]["ports"]}


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("profiles:", "profils:", "skaffold.yaml: (top level): Additional properties are not allowed ('profils'"),
        (
            "  kustomize:\n    paths:\n      - k8s/overlays/dev\ndeploy:",
            "  kustomise:\n    paths:\n      - k8s/overlays/dev\ndeploy:",
            "skaffold.yaml: manifests: Additional properties are not allowed ('kustomise'",
        ),
        ("    localPort: 6006", "    localPort: six-thousand", "skaffold.yaml: portForward[0].localPort: "),
    ],
    ids=["top_level_key", "nested_key", "wrong_type"],
)
def test_a_typo_is_reported_with_file_and_field(tmp_path, old, new, expected):
    text = SKAFFOLD.read_text()
    assert old in text, f"test setup: {old!r} not in skaffold.yaml"
    (tmp_path / "skaffold.yaml").write_text(text.replace(old, new, 1))
    errors = checks.skaffold_errors(tmp_path / "skaffold.yaml")
    assert any(error.startswith(expected) for error in errors), errors
