"""Publishing a version in gs:// object storage: staged, verified against the source, copied, marked last.

A bucket has no rename, so a version cannot appear whole at once as it does
on a POSIX filesystem (versions.py). Instead, under the serving root's lease
(common/locks.py: a create-only object, renewed while the push lives):

1. What killed pushes left is removed: staging objects, and numbered prefixes
   that have neither a marker nor a saved_model.pb.
2. A model whose digest equals the newest published version's is not pushed again.
3. Every file is copied to `<root>/.staging/<token>/`, and each stored object's
   size and MD5 (computed by the server) are compared with the source's.
4. The staged files are copied server-side to `<root>/<version>/`,
   saved_model.pb last (TensorFlow Serving loads a version once that file is
   there), and verified again; extras (the warm-start weights) likewise go to
   `<root>/<folder>/<version>/`.
5. The lease is confirmed, then the marker `<root>/.published/<version>` is
   created (only if absent), holding the manifest; then staging is deleted.

Readers take only versions with a marker (common/serving_root.py), so a push
killed at any step is never served, listed, rolled back to or warmed from.
The one window left: a holder that stalls for a whole lease period between
confirming its lease and writing the marker (docs/deploy.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Callable

from absl import logging

from common import filesystem, locks, object_store, serving_root

__all__ = ["STAGING_DIR", "CopyVerificationError", "digest", "publish", "remove_debris", "source_files"]

STAGING_DIR = ".staging"
_SAVED_MODEL_FILE = "saved_model.pb"
_CHUNK_BYTES = 8 << 20


class CopyVerificationError(RuntimeError):
    """A stored copy differs from its source in size or digest; nothing was published. The message names the file."""


def source_files(source: str) -> dict[str, dict]:
    """Every file under `source` (a folder, or a gs:// prefix): relative path -> {"size", "md5"}."""
    if object_store.supports(source):
        store, prefix = object_store.store_for(source)
        return {item.name[len(prefix) + 1 :]: {"size": item.size, "md5": item.md5} for item in store.list(f"{prefix}/")}
    files = {}
    for folder, _, names in filesystem.walk(source):
        for name in names:
            path = os.path.join(folder, name)
            md5, size = hashlib.md5(), 0
            with filesystem.open_file(path, "rb") as stream:
                while chunk := stream.read(_CHUNK_BYTES):
                    md5.update(chunk)
                    size += len(chunk)
            files[os.path.relpath(path, source)] = {"size": size, "md5": md5.hexdigest()}
    return files


def digest(files: dict[str, dict]) -> str:
    """SHA-256 over every file's relative path, size and MD5: equal digests, equal models."""
    lines = (f"{path}\t{entry['size']}\t{entry['md5']}\n" for path, entry in sorted(files.items()))
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def _put(store: object_store.GcsStore, source: str, relative: str, expected: dict, name: str) -> None:
    """Copies one file to `name` and checks the server's size and MD5 of it against `expected`."""
    path = f"{source.rstrip('/')}/{relative}"
    if object_store.supports(source):
        stored = store.copy(path, name)
    else:
        with filesystem.open_file(path, "rb") as stream:
            stored = store.write(name, stream, size=expected["size"])
    if stored.size != expected["size"] or stored.md5 != expected["md5"]:
        raise CopyVerificationError(
            f"{store.uri(name)} holds {stored.size} bytes with MD5 {stored.md5}, but its source {path} has "
            f"{expected['size']} bytes with MD5 {expected['md5']}; nothing was published"
        )


def _copy_all(store, source: str, files: dict[str, dict], target_prefix: str) -> None:
    """Copies `files` from `source` under `target_prefix`, saved_model.pb last, verifying each."""
    for relative in sorted(files, key=lambda path: (path == _SAVED_MODEL_FILE, path)):
        _put(store, source, relative, files[relative], f"{target_prefix}/{relative}")


def remove_debris(store: object_store.GcsStore, prefix: str) -> tuple[list[str], set[str]]:
    """Deletes what killed pushes left under `prefix` (call it holding the lease).

    Returns:
      (the object names removed, the version numbers whose prefixes remain: no new version may take them).

    Staging objects go; so do numbered prefixes with no marker and no saved_model.pb (an interrupted copy:
    nothing can load it), and the extras kept for such a number (`<folder>/<version>/`). A numbered prefix
    without a marker but with saved_model.pb is kept: it may be a complete version pushed before markers
    existed. Readers ignore it, and its number is never reused.
    """
    published = set(serving_root.numbered_versions(store.uri(prefix)))
    by_top = store.children(prefix)
    kept = published | {
        top for top, names in by_top.items() if top.isdigit() and f"{prefix}/{top}/{_SAVED_MODEL_FILE}" in names
    }
    debris = list(by_top.pop(STAGING_DIR, []))
    for top, names in by_top.items():
        if top.isdigit():
            debris += [] if top in kept else names
        elif top != serving_root.PUBLISHED_DIR:
            debris += [name for name in names if _extra_version(name, prefix, top) not in kept | {None}]
    for name in debris:
        store.delete(name)
    return debris, {top for top in by_top if top.isdigit() and top in kept}


def _extra_version(name: str, prefix: str, folder: str) -> str | None:
    """The version an object under `<prefix>/<folder>/<version>/` is kept for, or None."""
    parts = name[len(prefix) + len(folder) + 2 :].split("/", 1)
    return parts[0] if len(parts) == 2 and parts[0].isdigit() else None


def publish(
    source: str,
    root: str,
    extras: dict[str, str] | None = None,
    now: Callable[[], int] = lambda: int(time.time()),
    lock_timeout_seconds: float = 600.0,
    lease_seconds: float = locks.DEFAULT_LEASE_SECONDS,
) -> tuple[str, bool]:
    """Makes `source` the next published version under the gs:// `root`, unless it is the newest already.

    Args:
      source: The model: a folder, or a gs:// prefix (a rollback's earlier version).
      root: The serving root, gs://.
      extras: Folder name -> a folder to keep at `<root>/<name>/<version>/` with the version (warm-start
        weights); a missing or empty one keeps nothing.
      now: The clock giving the version number (Unix seconds).
      lock_timeout_seconds: How long to wait for another push.
      lease_seconds: How long a killed push's lease blocks the next one.

    Returns:
      (the version's URI, whether this call published it).

    Raises:
      CopyVerificationError: If a copy differs from its source.
      LockedError: When another push holds the lease beyond `lock_timeout_seconds`.
      LeaseLostError: If the lease expired during the push (it stalled); nothing was published.
    """
    store, prefix = object_store.store_for(root)
    files = source_files(source)
    if _SAVED_MODEL_FILE not in files:
        raise CopyVerificationError(
            f"{source} has no {_SAVED_MODEL_FILE}: it is not a SavedModel; nothing was published"
        )
    model_digest = digest(files)
    with locks.holding(root, serving_root.LOCK_FILE, "a push", lock_timeout_seconds, lease_seconds) as lease:
        removed, in_use = remove_debris(store, prefix)
        if removed:
            logging.warning("Removed %d objects that interrupted pushes left under %s.", len(removed), root)
        newest = serving_root.newest_version(root)
        if newest and (serving_root.manifest(root, os.path.basename(newest)) or {}).get("digest") == model_digest:
            return newest, False
        staging = f"{prefix}/{STAGING_DIR}/{uuid.uuid4().hex}"
        try:
            _copy_all(store, source, files, staging)
            version = str(max([now(), *(int(number) + 1 for number in in_use)]))
            _copy_all(store, store.uri(staging), files, f"{prefix}/{version}")
            for folder, extra in (extras or {}).items():
                _copy_all(store, extra, source_files(extra), f"{prefix}/{folder}/{version}")
            lease.confirm()
            marker = {"version": version, "digest": model_digest, "files": files, "published": int(time.time())}
            marker_name = f"{prefix}/{serving_root.PUBLISHED_DIR}/{version}"
            if store.write(marker_name, json.dumps(marker, indent=1).encode(), if_generation=0) is None:
                raise locks.LeaseLostError(f"{store.uri(marker_name)} exists already: another push took the lease")
        finally:
            for item in store.list(f"{staging}/"):
                store.delete(item.name)
    return store.uri(f"{prefix}/{version}"), True
