"""Exclusive locks on local folders: one run per pipeline root, one push per serving root.

An advisory `flock` on a file in the folder; the kernel releases it when the
holding process ends, however it ends, so a crashed holder never leaves a
stale lock. The file records who holds it, for the message the next comer
reads.

In gs:// object storage the lock is a lease: an object created only if absent
(a generation precondition), holding who took it and until when; a thread
renews it while the holder lives (a replace conditional on the generation it
wrote), and a holder that died is replaced once its lease has expired (a delete
conditional on the generation that was read, so two waiters never both break
it). `Held.confirm` says whether the lease is still this holder's, just before
a write that only the holder may make. Other URI schemes are not locked.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator

from common import filesystem, object_store

__all__ = ["DEFAULT_LEASE_SECONDS", "Held", "LeaseLostError", "LockedError", "holding"]

_POLL_SECONDS = 0.2
_LEASE_POLL_SECONDS = 1.0  # each poll of a lease is a request to the store
# A killed holder in object storage blocks the next comer at most this long; the lease is renewed every third of it.
DEFAULT_LEASE_SECONDS = 120.0


class LockedError(RuntimeError):
    """Someone else holds the lock; the message says who, since when, and which file."""


class LeaseLostError(RuntimeError):
    """An object-storage lease was taken over (its holder stalled past its expiry); the message names it."""


class Held:
    """A held lock. A local lock cannot be lost while its process lives: `confirm` passes."""

    def confirm(self) -> None:
        """Raises LeaseLostError if the lock is no longer held by this process."""


@contextlib.contextmanager
def holding(
    folder: str, name: str, what: str, timeout_seconds: float = 0.0, lease_seconds: float = DEFAULT_LEASE_SECONDS
) -> Iterator[Held]:
    """Holds `<folder>/<name>` exclusively, waiting at most `timeout_seconds` for another holder.

    Args:
      folder: A local folder (created if needed) or a gs:// one; other URIs are not locked.
      name: The lock file's name in the folder.
      what: What holds it, e.g. "a run of taxi-local", for the next comer's message.
      timeout_seconds: How long to wait; 0 fails at once.
      lease_seconds: In object storage, how long the lease outlives a holder that stopped renewing it.

    Yields:
      A Held, whose `confirm()` raises LeaseLostError if the lock was lost.

    Raises:
      LockedError: If another process holds it after the wait; the message names the holder and the file.
    """
    if object_store.supports(folder):
        with _leasing(folder, name, what, timeout_seconds, lease_seconds) as lease:
            yield lease
        return
    if filesystem.is_remote(folder):
        yield Held()
        return
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + timeout_seconds
    try:
        while not _try_lock(descriptor):
            if time.monotonic() >= deadline:
                raise LockedError(_locked_message(_holder(descriptor), path, timeout_seconds))
            time.sleep(_POLL_SECONDS)
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, json.dumps(_record(what)).encode(), 0)
        yield Held()
    finally:
        os.close(descriptor)  # releases the lock


def _record(what: str) -> dict:
    return {
        "what": what,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": datetime.datetime.now().isoformat(timespec="seconds"),
    }


def _locked_message(holder: dict, path: str, timeout_seconds: float) -> str:
    waited = f" after waiting {timeout_seconds:.0f}s" if timeout_seconds else ""
    return (
        f"{holder.get('what', 'another process')} (pid {holder.get('pid', '?')}, since "
        f"{holder.get('since', '?')}) holds {path}{waited}; wait for it to finish, or stop it "
        "(the lock dies with its process)"
    )


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


class _Lease(Held):
    """A lease object that a daemon thread renews every third of its duration until `release`."""

    def __init__(self, store, name: str, record: dict, generation: int, lease_seconds: float):
        self._store, self._name, self._record, self._seconds = store, name, record, lease_seconds
        self._generation = generation
        self._lost: str | None = None
        self._guard = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew_until_stopped, daemon=True, name=f"lease {name}")
        self._thread.start()

    def _renew(self) -> None:
        with self._guard:
            if self._lost:
                return
            record = {**self._record, "expires": time.time() + self._seconds}
            written = self._store.write(self._name, json.dumps(record).encode(), if_generation=self._generation)
            if written is None:
                self._lost = f"the lease {self._store.uri(self._name)} was taken over: it expired before a renewal"
            else:
                self._generation = written.generation

    def _renew_until_stopped(self) -> None:
        while not self._stop.wait(self._seconds / 3):
            try:
                self._renew()
            except Exception:  # noqa: BLE001 - a failed renewal is retried; confirm() finds a lease lost meanwhile
                continue

    def confirm(self) -> None:
        """Renews the lease now: it then lasts a whole period more, or raises LeaseLostError."""
        self._renew()
        if self._lost:
            raise LeaseLostError(self._lost)

    def release(self) -> None:
        self._stop.set()
        self._thread.join()
        with self._guard:
            if not self._lost:
                self._store.delete(self._name, if_generation=self._generation)


@contextlib.contextmanager
def _leasing(folder: str, name: str, what: str, timeout_seconds: float, lease_seconds: float) -> Iterator[Held]:
    store, prefix = object_store.store_for(folder)
    lease_name = f"{prefix}/{name}" if prefix else name
    record = {**_record(what), "token": uuid.uuid4().hex}
    deadline = time.monotonic() + timeout_seconds
    while True:
        written = store.write(
            lease_name, json.dumps({**record, "expires": time.time() + lease_seconds}).encode(), if_generation=0
        )
        if written is not None:
            break
        held = store.stat(lease_name)
        content = store.read(lease_name, held.generation) if held else None
        if held is None or content is None:
            continue  # released meanwhile: try again at once
        holder = _parsed(content)
        if holder.get("expires", 0.0) < time.time():
            store.delete(lease_name, if_generation=held.generation)  # a dead holder's; fails if renewed meanwhile
            continue
        if time.monotonic() >= deadline:
            raise LockedError(_locked_message(holder, store.uri(lease_name), timeout_seconds))
        time.sleep(_LEASE_POLL_SECONDS)
    lease = _Lease(store, lease_name, record, written.generation, lease_seconds)
    try:
        yield lease
    finally:
        lease.release()


def _parsed(content: bytes) -> dict:
    try:
        parsed = json.loads(content.decode())
    except (UnicodeDecodeError, ValueError):
        return {}  # not a lease record (no expiry): it is broken like an expired one
    return parsed if isinstance(parsed, dict) else {}
