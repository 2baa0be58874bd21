"""Content hashes of the code a component runs, so that editing it invalidates the component's cache.

TFX keys a component's cache on its parameters, and a function passed by
dotted name (`trainer.preprocessing.preprocessing_fn`) is a parameter that
never changes: an edit under `trainer/` would be served stale outputs. TFX's
own answer, `module_file`, packages one folder as a wheel whose hash enters
the cache key, but it imports the user module from that wheel as top-level
modules, so `from trainer import features` would still load the installed
copy. We keep dotted names and add the hash ourselves: `code_version(module)`
hashes the module's source and every first-party module it imports,
transitively (found by reading `import` statements, so nothing is executed).
The pipeline passes it in each component's custom_config or parameters.

Only what a component actually imports counts: an edit to `trainer/model.py`
re-runs the Tuner and the Trainer, not Transform.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import os
from collections.abc import Iterable

__all__ = ["CODE_VERSION_KEY", "FIRST_PARTY", "code_version", "module_closure"]

# Where the hash travels in a component's custom_config (or parameters).
CODE_VERSION_KEY = "code_version"
# Our top-level packages; imports of anything else (TensorFlow, TFX) are versions in the lock.
FIRST_PARTY = ("common", "trainer", "launcher", "components", "pipelines")


def module_closure(module: str, first_party: Iterable[str] = FIRST_PARTY) -> list[str]:
    """Source files of `module` and of every first-party module it imports, transitively, sorted.

    Package `__init__.py` files on the way are included: importing `a.b`
    runs `a/__init__.py` first.

    Raises:
      ModuleNotFoundError: If `module` is not a first-party module on this path.
    """
    packages = (*tuple(first_party), module.split(".")[0])
    start = _source(module, packages)
    if start is None:
        raise ModuleNotFoundError(f"{module!r} has no source file under {', '.join(packages)}")
    seen: set[str] = set()
    pending = [module]
    while pending:
        name = pending.pop()
        for candidate in _with_parents(name):
            path = _source(candidate, packages)
            if path is None or path in seen:
                continue
            seen.add(path)
            pending.extend(_imports(path, candidate))
    return sorted(seen)


def code_version(*modules: str) -> str:
    """SHA-256 (first 16 hex digits) over the closure of `modules`: relative paths and bytes."""
    # Ordered by the path from the package on: the same order wherever each package is checked out.
    files = sorted({path for module in modules for path in module_closure(module)}, key=_display_path)
    digest = hashlib.sha256()
    for path in files:
        digest.update(_display_path(path).encode())
        with open(path, "rb") as stream:
            digest.update(hashlib.sha256(stream.read()).digest())
    return digest.hexdigest()[:16]


def _display_path(path: str) -> str:
    """The path from the top-level package on, the same wherever the code is checked out."""
    parts = path.split(os.sep)
    for index in range(len(parts) - 1, -1, -1):
        if not os.path.exists(os.path.join(os.sep.join(parts[:index]) or os.sep, "__init__.py")):
            return "/".join(parts[index:])
    return path


def _with_parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[: index + 1]) for index in range(len(parts))]


def _package_dir(top: str) -> str | None:
    spec = importlib.util.find_spec(top)
    if spec is None or not spec.submodule_search_locations:
        return None
    return next(iter(spec.submodule_search_locations))


def _source(module: str, packages: tuple[str, ...]) -> str | None:
    """The .py file of a first-party module, or None (not ours, or an attribute rather than a module)."""
    top, *rest = module.split(".")
    if top not in packages:
        return None
    root = _package_dir(top)
    if root is None:
        # A top-level single-file module, such as a user's labels.py.
        spec = importlib.util.find_spec(top) if not rest else None
        origin = spec.origin if spec is not None else None
        return origin if origin and origin.endswith(".py") else None
    base = os.path.join(root, *rest)
    for path in (base + ".py", os.path.join(base, "__init__.py")):
        if rest and os.path.isfile(path):
            return path
    init = os.path.join(root, "__init__.py")
    return init if not rest and os.path.isfile(init) else None


def _imports(path: str, module: str) -> list[str]:
    """Every module name an import statement in the file could refer to (inside functions too)."""
    with open(path, encoding="utf-8") as stream:
        tree = ast.parse(stream.read(), filename=path)
    is_package = path.endswith("__init__.py")
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names.append(base)
            names += [f"{base}.{alias.name}" for alias in node.names]
    return names
