"""Which versions a serving root publishes: what status, rollback, run summaries and warm starts may read.

A serving root holds numbered version folders, the layout TensorFlow Serving
watches. On a POSIX filesystem a version is published by a rename, so every
numbered folder is complete (components/pusher/versions.py). In gs:// object
storage nothing is renamed: the push copies and verifies the files, then
writes a marker object `<root>/.published/<version>` last, holding the
version's manifest (components/pusher/object_push.py). There a version is
published only if it has its marker; a numbered prefix without one is what a
killed push left, and is never read.
"""

from __future__ import annotations

import json
import os

from common import filesystem, object_store

__all__ = ["LOCK_FILE", "PUBLISHED_DIR", "kept_beside", "manifest", "newest_version", "numbered_versions"]

PUBLISHED_DIR = ".published"
# The lock pushes and rollbacks take on the root: a flock'ed file, or a lease object in gs:// (common/locks.py).
LOCK_FILE = ".push.lock"


def numbered_versions(root: str) -> list[str]:
    """The published version numbers under `root`, lowest first."""
    if object_store.supports(root):
        store, prefix = object_store.store_for(root)
        return _numbered(store.children(f"{prefix}/{PUBLISHED_DIR}"))
    return _numbered(filesystem.listdir(root)) if filesystem.exists(root) else []


def kept_beside(root: str, folder: str) -> list[str]:
    """The version numbers that have a `<root>/<folder>/<version>/` (what a push keeps with a version)."""
    path = os.path.join(root, folder)
    if object_store.supports(root):
        store, prefix = object_store.store_for(path)
        return _numbered(store.children(prefix))
    return _numbered(filesystem.listdir(path)) if filesystem.isdir(path) else []


def _numbered(names) -> list[str]:
    """The names that are version numbers, lowest first."""
    return sorted((name for name in names if name.isdigit()), key=int)


def newest_version(root: str) -> str | None:
    """Path of the highest published version under `root`, or None."""
    versions = numbered_versions(root)
    return os.path.join(root, versions[-1]) if versions else None


def manifest(root: str, version: str) -> dict | None:
    """A gs:// version's manifest (`files`: relative path -> size and md5; `digest`), or None without a marker."""
    store, prefix = object_store.store_for(root)
    content = store.read(f"{prefix}/{PUBLISHED_DIR}/{version}")
    return json.loads(content.decode()) if content is not None else None
