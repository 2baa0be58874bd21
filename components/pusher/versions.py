"""Pure helpers over a serving root of numbered model versions."""

from __future__ import annotations

import hashlib
import os

from tfx.dsl.io import fileio

__all__ = ["content_digest", "newest_version", "next_version"]


def newest_version(base_directory: str) -> str | None:
    """Path of the highest numbered version folder under base_directory, or None."""
    if not fileio.exists(base_directory):
        return None
    versions = [name.rstrip("/") for name in fileio.listdir(base_directory) if name.rstrip("/").isdigit()]
    if not versions:
        return None
    return os.path.join(base_directory, max(versions, key=int))


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
    for root, _, names in fileio.walk(directory):
        files.extend(os.path.join(root, name) for name in names)
    for path in sorted(files):
        digest.update(os.path.relpath(path, directory).encode())
        with fileio.open(path, "rb") as stream:
            digest.update(hashlib.sha256(stream.read()).digest())
    return digest.hexdigest()
