"""Files on local disk or in object storage through one API: the os module for a local path, TensorFlow's gfile
for a URI (gs://, s3://, hdfs://).

TensorFlow is imported only for a URI: the everyday commands (status, rollback, the retraining loop's
checks) read local folders without loading it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

__all__ = [
    "UnreadableFileError",
    "exists",
    "is_remote",
    "isdir",
    "listdir",
    "open_file",
    "read_text",
    "walk",
    "write_text_atomically",
]


def is_remote(path: str) -> bool:
    """Whether a path is a URI of object storage (gs://, s3://, ...) rather than a local or mounted path."""
    return "://" in path


def _gfile():
    import tensorflow as tf

    return tf.io.gfile


def exists(path: str) -> bool:
    return _gfile().exists(path) if is_remote(path) else os.path.exists(path)


def isdir(path: str) -> bool:
    return _gfile().isdir(path) if is_remote(path) else os.path.isdir(path)


def listdir(path: str) -> list[str]:
    """The names in a folder (without a trailing slash)."""
    names = _gfile().listdir(path) if is_remote(path) else os.listdir(path)
    return [name.rstrip("/") for name in names]


def walk(path: str) -> Iterator[tuple[str, list[str], list[str]]]:
    return _gfile().walk(path) if is_remote(path) else os.walk(path)


def open_file(path: str, mode: str = "r"):
    return _gfile().GFile(path, mode) if is_remote(path) else open(path, mode)


class UnreadableFileError(ValueError):
    """A local file that is missing, a folder, not UTF-8 text or unreadable; the message names it and says which."""


def read_text(path: str, what: str = "file") -> str:
    """A text file's content, UTF-8.

    Args:
      path: A local path or a URI.
      what: What the file should be, for the messages (e.g. "config file").

    Raises:
      UnreadableFileError: For a local path that is missing, a folder, not UTF-8 or unreadable, naming it.
    """
    if is_remote(path):
        with _gfile().GFile(path, "r") as stream:
            return stream.read()
    try:
        with open(path, encoding="utf-8") as stream:
            return stream.read()
    except FileNotFoundError:
        raise UnreadableFileError(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise UnreadableFileError(f"{path}: is a folder, not a {what}") from None
    except UnicodeDecodeError as error:
        raise UnreadableFileError(f"{path}: not UTF-8 text (byte {error.start}): a {what} is text") from None
    except OSError as error:
        raise UnreadableFileError(f"{path}: cannot be read: {error.strerror or error}") from None


def write_text_atomically(path: str, text: str) -> None:
    """Writes `path` whole or not at all: a staging file beside it, then a rename over it."""
    folder = os.path.dirname(path)
    staging = f"{path}.tmp-{os.getpid()}"
    if is_remote(path):
        _gfile().makedirs(folder)
        with _gfile().GFile(staging, "w") as stream:
            stream.write(text)
        _gfile().rename(staging, path, overwrite=True)
        return
    os.makedirs(folder or ".", exist_ok=True)
    with open(staging, "w", encoding="utf-8") as stream:
        stream.write(text)
    os.replace(staging, path)
