"""The hash of the code a component runs: which files it covers, and that an edit changes it."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

from common import code_version
from tests.conftest import REPO_ROOT


def _names(paths: list[str]) -> set[str]:
    return {os.path.relpath(path, REPO_ROOT) for path in paths}


def test_transform_code_is_what_preprocessing_imports_and_not_the_model():
    closure = _names(code_version.module_closure("trainer.preprocessing"))
    assert {"trainer/preprocessing.py", "trainer/features.py", "trainer/labels.py", "trainer/expressions.py"} <= closure
    assert "trainer/__init__.py" in closure, "importing a package runs its __init__"
    assert "trainer/model.py" not in closure and "trainer/training.py" not in closure


def test_trainer_code_includes_the_model_and_the_loop():
    closure = _names(code_version.module_closure("trainer.task"))
    assert {"trainer/model.py", "trainer/training.py", "trainer/heads.py", "trainer/export.py"} <= closure
    assert not any(name.startswith(("pipelines/", "components/")) for name in closure)


@pytest.fixture
def package(tmp_path, monkeypatch) -> pathlib.Path:
    """A small first-party package in a temporary folder, imported from there."""
    root = tmp_path / "src"
    files = {
        "shop/__init__.py": "",
        "shop/main.py": "from shop import prices\nfrom . import taxes\n\ndef run():\n    import shop.late\n",
        "shop/prices.py": "import math\nVALUE = 1\n",
        "shop/taxes.py": "from .prices import VALUE\n",
        "shop/late.py": "X = 2\n",
        "shop/unused.py": "Y = 3\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    monkeypatch.syspath_prepend(str(root))
    return root


def test_the_closure_follows_absolute_relative_and_function_level_imports(package):
    closure = {os.path.relpath(path, package) for path in code_version.module_closure("shop.main", ("shop",))}
    assert closure == {"shop/__init__.py", "shop/main.py", "shop/prices.py", "shop/taxes.py", "shop/late.py"}


def test_an_edit_in_the_closure_changes_the_version_and_one_outside_does_not(package, monkeypatch):
    monkeypatch.setattr(code_version, "FIRST_PARTY", ("shop",))
    before = code_version.code_version("shop.main")
    (package / "shop" / "unused.py").write_text("Y = 4\n")
    assert code_version.code_version("shop.main") == before
    (package / "shop" / "late.py").write_text("X = 2  # a comment is an edit too\n")
    assert code_version.code_version("shop.main") != before


def test_an_unknown_module_is_an_error():
    with pytest.raises(ModuleNotFoundError, match=r"'trainer\.nothing' has no source file"):
        code_version.module_closure("trainer.nothing")


def test_the_version_does_not_depend_on_where_the_code_is_checked_out(tmp_path):
    copy = tmp_path / "elsewhere"
    copy.mkdir()
    # The trainer elsewhere; `common`, which it imports, stays where it is: the order of the two differs.
    subprocess.run(["cp", "-r", str(REPO_ROOT / "trainer"), str(copy)], check=True)
    script = "from common import code_version; print(code_version.code_version('trainer.task'))"
    env = {**os.environ, "PYTHONPATH": str(copy)}

    def run() -> subprocess.CompletedProcess:
        # Not from the repo root, whose trainer/ would come first on the path.
        return subprocess.run(
            [sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True, check=True
        )

    other = run()
    assert other.stdout.strip() == code_version.code_version("trainer.task")
    (copy / "trainer" / "model.py").write_text((copy / "trainer" / "model.py").read_text() + "\n# edited\n")
    edited = run()
    assert edited.stdout.strip() != code_version.code_version("trainer.task")
