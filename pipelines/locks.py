"""Exclusive locks on a pipeline root: one run at a time, and one retraining loop at a time.

An advisory `flock` on a file beside the pipeline's artifacts; the kernel
releases it when the holding process ends, however it ends, so a crashed run
never leaves a stale lock. The file records who holds it, for the message the
next comer reads.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
from collections.abc import Iterator

__all__ = ["LOOP_LOCK", "RUN_LOCK", "LockedError", "holding"]

RUN_LOCK = ".run.lock"
LOOP_LOCK = ".retrain.lock"


class LockedError(RuntimeError):
    """Someone else holds the lock; the message says who, since when, and which file."""


@contextlib.contextmanager
def holding(folder: str, name: str, what: str) -> Iterator[None]:
    """Holds `<folder>/<name>` exclusively, or raises at once.

    Args:
      folder: A local folder (created if needed); remote roots are not locked.
      name: RUN_LOCK or LOOP_LOCK.
      what: Says what holds it, e.g. "a run of taxi-local".

    Raises:
      LockedError: If another process holds it.
    """
    if "://" in folder:
        yield  # object storage has no locks; the orchestrator (KFP max_concurrency=1) keeps runs apart
        return
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            holder = _holder(descriptor)
            raise LockedError(
                f"{holder.get('what', 'another process')} (pid {holder.get('pid', '?')}, since "
                f"{holder.get('since', '?')}) holds {path}; wait for it to finish, or stop it"
            ) from None
        record = {"what": what, "pid": os.getpid(), "since": datetime.datetime.now().isoformat(timespec="seconds")}
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, json.dumps(record).encode(), 0)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def _holder(descriptor: int) -> dict:
    try:
        return json.loads(os.pread(descriptor, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        return {}
