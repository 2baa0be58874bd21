"""The layer rules of docs/architecture.md, enforced: imports only downward, private stack names in one module.

Layers, bottom up: common; trainer and launcher; components; pipelines. A
package imports only packages below it; a component's folder imports no other
component's folder (what they share is in components/ itself); and only
common/tfx_compat.py touches private names of the TFX stack.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pathlib
import textwrap

import pytest
from tfx.components.pusher import executor as tfx_pusher_executor

from tests.conftest import REPO_ROOT

# Each package and the first-party packages it may import (itself aside).
ALLOWED_IMPORTS = {
    "common": set(),
    "trainer": {"common"},
    "launcher": {"common"},
    "components": {"common", "trainer", "launcher"},
    "pipelines": {"common", "trainer", "launcher", "components"},
}
# The third-party packages whose private names count as the stack's internals.
STACK = (
    "tfx",
    "tfx_bsl",
    "tensorflow_transform",
    "tensorflow_data_validation",
    "tensorflow_model_analysis",
    "tensorflow_metadata",
    "ml_metadata",
    "tensorflow",
    "tf_keras",
    "keras",
    "keras_tuner",
    "apache_beam",
)
COMPAT_MODULE = "common.tfx_compat"


def _modules() -> list[tuple[str, pathlib.Path]]:
    """Every first-party module of the layered packages: (dotted name, path)."""
    found = []
    for package in ALLOWED_IMPORTS:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            parts = path.relative_to(REPO_ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found.append((name, path))
    return found


def _imports(path: pathlib.Path, module: str) -> list[tuple[int, str]]:
    """(line, imported module) of every import in a file, function-level ones included, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def _component_folder(module: str) -> str | None:
    """`example_gen` for components.example_gen.executor; None for components' shared top-level modules."""
    parts = module.split(".")
    if parts[0] != "components" or len(parts) < 2:
        return None
    folder = REPO_ROOT / "components" / parts[1]
    return parts[1] if folder.is_dir() else None


def _layer_violations(modules: list[tuple[str, pathlib.Path]]) -> list[str]:
    violations = []
    for module, path in modules:
        package = module.split(".")[0]
        own_folder = _component_folder(module)
        for line, imported in _imports(path, module):
            target = imported.split(".")[0]
            where = (
                f"{path.name}:{line} imports {imported}"
                if not path.is_relative_to(REPO_ROOT)
                else (f"{path.relative_to(REPO_ROOT)}:{line} imports {imported}")
            )
            if target in ALLOWED_IMPORTS and target != package and target not in ALLOWED_IMPORTS[package]:
                violations.append(f"{where}: {package} may import only {sorted(ALLOWED_IMPORTS[package]) or 'none'}")
            other_folder = _component_folder(imported)
            if package == "components" and other_folder and other_folder != own_folder:
                violations.append(f"{where}: a component imports another component's folder")
    return violations


def test_every_package_imports_only_the_layers_below_it():
    assert _layer_violations(_modules()) == []


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("trainer.probe", "def f():\n    from components import artifacts\n", "trainer may import only ['common']"),
        ("common.probe", "import trainer.data\n", "common may import only none"),
        ("components.pusher.probe", "from components.example_gen import executor\n", "another component's folder"),
        ("components.pusher.probe", "from ..evaluator import metrics\n", "another component's folder"),
        ("components.pusher.probe", "from components import artifacts\nfrom . import versions\n", None),
    ],
)
def test_the_layer_check_catches_an_upward_or_sideways_import(tmp_path, module, source, expected):
    path = tmp_path / "probe.py"
    path.write_text(source)
    found = _layer_violations([(module, path)])
    assert (expected is None and found == []) or any(expected in violation for violation in found), found


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _stack_import_violations(source: str, label: str) -> list[str]:
    """Private stack modules or names imported, `stack_name._private` reads, `stack_name.x = ...` patches, in a file."""
    tree = ast.parse(source)
    stack_names: set[str] = set()
    violations = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            base = node.module if isinstance(node, ast.ImportFrom) else None
            for alias in node.names:
                full = f"{base}.{alias.name}" if base else alias.name
                if full.split(".")[0] not in STACK:
                    continue
                stack_names.add((alias.asname or alias.name).split(".")[0])
                parts = full.split(".")
                if any(_is_private(part) or (part == "src" and parts[0] in ("keras", "tf_keras")) for part in parts):
                    violations.append(f"{label}:{node.lineno} imports {full}")
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        root = node.value
        while isinstance(root, ast.Attribute):
            root = root.value
        if not (isinstance(root, ast.Name) and root.id in stack_names):
            continue
        if isinstance(node.ctx, ast.Store):
            violations.append(f"{label}:{node.lineno} patches {ast.unparse(node)}")
        elif _is_private(node.attr):
            violations.append(f"{label}:{node.lineno} reads {ast.unparse(node)}")
    return violations


def _class_tree(cls: type) -> ast.AST | None:
    try:
        return ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):
        return None


def _is_stack(cls: type) -> bool:
    return cls.__module__.split(".")[0] in STACK


def _stack_private_names(cls: type) -> set[str]:
    """The private names stack base classes of `cls` define or use: attributes, methods, `self._x`."""
    names: set[str] = set()
    for base in cls.__mro__[1:]:
        if not _is_stack(base):
            continue
        names |= set(vars(base))
        tree = _class_tree(base)
        if tree is not None:
            names |= {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    return {name for name in names if _is_private(name)}


def _first_party_private_names(cls: type) -> tuple[set[str], set[str], set[str]]:
    """In the first-party classes of the MRO: (private names read on self/super(), assigned on self, defs)."""
    read, assigned, defined = set(), set(), set()
    for klass in cls.__mro__:
        if _is_stack(klass) or klass is object or klass.__module__ == COMPAT_MODULE:
            continue
        tree = _class_tree(klass)
        if tree is None:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and _is_private(node.name):
                defined.add(node.name)
            if not (isinstance(node, ast.Attribute) and _is_private(node.attr)):
                continue
            value = node.value
            on_self = isinstance(value, ast.Name) and value.id in ("self", "cls")
            on_super = isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "super"
            if on_self and isinstance(node.ctx, ast.Store):
                assigned.add(node.attr)
            elif on_self or on_super:
                read.add(node.attr)
    return read, assigned, defined


def _subclass_violations(module_name: str) -> list[str]:
    """Private names a first-party subclass of a stack class reads from it or overrides."""
    module = importlib.import_module(module_name)
    violations = []
    for _, cls in inspect.getmembers(module, inspect.isclass):
        if cls.__module__ != module_name or not any(_is_stack(base) for base in cls.__mro__[1:]):
            continue
        stack = _stack_private_names(cls)
        read, assigned, defined = _first_party_private_names(cls)
        for name in sorted(stack & ((read - assigned) | defined)):
            violations.append(f"{module_name}.{cls.__name__} uses the stack's private {name}")
    return violations


def test_only_the_compat_module_touches_private_names_of_the_stack():
    violations = []
    for module, path in _modules():
        if module == COMPAT_MODULE:
            continue
        violations += _stack_import_violations(path.read_text(encoding="utf-8"), str(path.relative_to(REPO_ROOT)))
        violations += _subclass_violations(module)
    assert violations == [], "move each into common/tfx_compat.py, with a check in tests/common/test_tfx_compat.py"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from tfx.components.example_gen import base_example_gen_executor as b\nb._PartitionFn\n", "reads b._Part"),
        ("from tf_keras.src.saving import x\n", "imports tf_keras.src.saving.x"),
        ("from tfx.types.artifact_utils import _ARTIFACT_VERSION\n", "imports tfx.types.artifact_utils._ARTIFACT"),
        ("from tfx.components.transform import executor as e\ne.TransformProcessor = object\n", "patches e.Trans"),
        ("import json\njson._private\n", None),
    ],
)
def test_the_import_check_catches_private_stack_names(source, expected):
    found = _stack_import_violations(source, "probe.py")
    assert (expected is None and found == []) or any(expected in violation for violation in found), found


class _Probe(tfx_pusher_executor.Executor):
    def Do(self, input_dict, output_dict, exec_properties):
        self._own = 1
        self._MarkNotPushed(self._own)

    def _MarkPushed(self, *args):  # an override of a private method
        return None


def test_the_subclass_check_catches_private_stack_methods_used_or_overridden():
    found = _subclass_violations(__name__)
    assert sorted(found) == [
        f"{__name__}._Probe uses the stack's private {name}" for name in ("_MarkNotPushed", "_MarkPushed")
    ]
