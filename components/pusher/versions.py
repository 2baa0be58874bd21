"""A serving root of numbered model versions, published atomically and one push at a time.

TensorFlow Serving (and anything watching the same layout) loads every folder
under the model's base path whose name is a number, the highest by default,
and ignores other names. `publish` therefore builds the new version under a
hidden staging name on the same filesystem, verifies it there, and renames it
to its number: the number appears with a complete model in it, or not at all.
An exclusive lock on the serving root makes concurrent pushers take turns, so
two of them never pick the same number; a staging folder left by a killed
push is removed by the next one.

This holds on a POSIX filesystem (local disk, NFS, a Kubernetes volume). In
gs:// object storage there is no rename: object_push.py stages, verifies and
marks versions instead, and common/serving_root.py reads both layouts.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import uuid
from collections.abc import Callable

from common import filesystem, locks, serving_root

__all__ = [
    "LOCK_FILE",
    "STAGING_PREFIX",
    "content_digest",
    "keep_beside",
    "newest_version",
    "next_version",
    "numbered_versions",
    "publish",
    "remove_stale_staging",
    "serving_lock",
]

LOCK_FILE = serving_root.LOCK_FILE
STAGING_PREFIX = ".staging-"
numbered_versions = serving_root.numbered_versions
newest_version = serving_root.newest_version


def next_version(base_directory: str, now: int) -> int:
    """A version number above every existing one: the Unix time, or newest + 1 if that is taken.

    The stock Pusher uses the Unix time alone; a second push within the same
    second then found the folder taken, copied nothing and still reported success.
    """
    newest = newest_version(base_directory)
    return max(now, int(os.path.basename(newest)) + 1) if newest else now


def content_digest(directory: str) -> str:
    """SHA-256 over every file's relative path and bytes: equal digests, equal models."""
    digest = hashlib.sha256()
    files = []
    for root, _, names in filesystem.walk(directory):
        files.extend(os.path.join(root, name) for name in names)
    for path in sorted(files):
        digest.update(os.path.relpath(path, directory).encode())
        with filesystem.open_file(path, "rb") as stream:
            digest.update(hashlib.sha256(stream.read()).digest())
    return digest.hexdigest()


def serving_lock(base_directory: str, timeout_seconds: float = 600.0):
    """Holds the serving root's exclusive lock (`<root>/.push.lock`), waiting at most `timeout_seconds`.

    Raises:
      LockedError: If another push keeps it beyond `timeout_seconds`; the message names the holder and the file.
    """
    return locks.holding(base_directory, LOCK_FILE, "a push", timeout_seconds)


def remove_stale_staging(base_directory: str) -> list[str]:
    """Removes staging folders of pushes that died; call it holding the lock. Returns what it removed."""
    stale = [
        os.path.join(base_directory, name) for name in os.listdir(base_directory) if name.startswith(STAGING_PREFIX)
    ]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return stale


def publish(
    model_dir: str,
    base_directory: str,
    verify: Callable[[str], None],
    now: Callable[[], int] = lambda: int(time.time()),
    copy_tree: Callable[[str, str], object] = shutil.copytree,
    lock_timeout_seconds: float = 600.0,
) -> tuple[str, bool]:
    """Makes `model_dir` the next version under `base_directory`, unless it is the newest already.

    Args:
      model_dir: The SavedModel to push.
      base_directory: The serving root (a local or mounted POSIX path).
      verify: Raises if a staged copy must not be served (it receives the staging path).
      now: The clock giving the version number (Unix seconds).
      copy_tree: How the model is copied into staging.
      lock_timeout_seconds: How long to wait for another push.

    Returns:
      (the version folder serving the model, whether this call created it).

    Raises:
      LockedError: When the lock is not obtained in time.
      Exception: Whatever `verify` raised; nothing is published then.
    """
    with serving_lock(base_directory, lock_timeout_seconds):
        remove_stale_staging(base_directory)
        newest = newest_version(base_directory)
        if newest and content_digest(newest) == content_digest(model_dir):
            return newest, False
        staging = os.path.join(base_directory, f"{STAGING_PREFIX}{uuid.uuid4().hex}")
        try:
            copy_tree(model_dir, staging)
            verify(staging)
            target = os.path.join(base_directory, str(next_version(base_directory, now())))
            os.rename(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target, True


def keep_beside(source: str, base_directory: str, hidden_dir: str, version: str) -> str:
    """Copies `source` to `<base>/<hidden_dir>/<version>` (staged, then renamed) unless it is there; returns it."""
    target = os.path.join(base_directory, hidden_dir, version)
    if os.path.exists(target):
        return target
    os.makedirs(os.path.dirname(target), exist_ok=True)
    staging = f"{target}{STAGING_PREFIX}{uuid.uuid4().hex}"
    try:
        shutil.copytree(source, staging)
        os.rename(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
