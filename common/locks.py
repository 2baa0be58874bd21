"""Exclusive locks on local folders: one run per pipeline root, one push per serving root.

An advisory `flock` on a file in the folder; the kernel releases it when the
holding process ends, however it ends, so a crashed holder never leaves a
stale lock. The file records who holds it, for the message the next comer
reads. Object storage (a `scheme://` folder) has no such lock: `holding`
does not lock there, and callers that need exclusion there say how they get it.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import time
from collections.abc import Iterator

from common import filesystem

__all__ = ["LockedError", "holding"]

_POLL_SECONDS = 0.2


class LockedError(RuntimeError):
    """Someone else holds the lock; the message says who, since when, and which file."""


@contextlib.contextmanager
def holding(folder: str, name: str, what: str, timeout_seconds: float = 0.0) -> Iterator[None]:
    """Holds `<folder>/<name>` exclusively, waiting at most `timeout_seconds` for another holder.

    Args:
      folder: A local folder (created if needed); a remote one is not locked.
      name: The lock file's name in the folder.
      what: What holds it, e.g. "a run of taxi-local", for the next comer's message.
      timeout_seconds: How long to wait; 0 fails at once.

    Raises:
      LockedError: If another process holds it after the wait; the message names the holder and the file.
    """
    if filesystem.is_remote(folder):
        yield
        return
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + timeout_seconds
    try:
        while not _try_lock(descriptor):
            if time.monotonic() >= deadline:
                holder = _holder(descriptor)
                waited = f" after waiting {timeout_seconds:.0f}s" if timeout_seconds else ""
                raise LockedError(
                    f"{holder.get('what', 'another process')} (pid {holder.get('pid', '?')}, since "
                    f"{holder.get('since', '?')}) holds {path}{waited}; wait for it to finish, or stop it "
                    "(the lock dies with its process)"
                )
            time.sleep(_POLL_SECONDS)
        record = {"what": what, "pid": os.getpid(), "since": datetime.datetime.now().isoformat(timespec="seconds")}
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, json.dumps(record).encode(), 0)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def _try_lock(descriptor: int) -> bool:
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno not in (errno.EAGAIN, errno.EACCES):
            raise
        return False
    return True


def _holder(descriptor: int) -> dict:
    try:
        return json.loads(os.pread(descriptor, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        return {}
