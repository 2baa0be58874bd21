"""Pushes to gs:// object storage: staged, verified, marked last, leased; a killed push is never served.

Against tests/common/gcs_server.py, a Cloud Storage JSON API fake that the
real google-cloud-storage client talks to over loopback.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from common import locks, object_store, serving_root
from components.pusher import object_push
from tests.common import gcs_server
from tests.conftest import REPO_ROOT

BUCKET = "models"
ROOT = f"gs://{BUCKET}/serving"
_LEASE_SECONDS = 2.0


@pytest.fixture
def fake(monkeypatch):
    with gcs_server.running(monkeypatch) as server:
        yield server


def _model(folder, content: bytes = b"weights-1"):
    """A folder shaped like a SavedModel (the push copies bytes; it does not load them)."""
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"graph:" + content)
    (folder / "variables" / "variables.data-00000-of-00001").write_bytes(content * 100)
    (folder / "variables" / "variables.index").write_bytes(b"index")
    (folder / "fingerprint.pb").write_bytes(b"fp" + content)
    return folder


def _objects(fake, under: str) -> dict[str, bytes]:
    prefix = f"serving/{under}/"
    return {
        name[len(prefix) :]: fake.objects[(BUCKET, name)][0] for name in fake.names(BUCKET) if name.startswith(prefix)
    }


def _files(folder) -> dict[str, bytes]:
    return {
        os.path.relpath(os.path.join(base, name), folder): open(os.path.join(base, name), "rb").read()
        for base, _, names in os.walk(folder)
        for name in names
    }


def test_a_push_stages_verifies_copies_and_marks_the_version_last(fake, tmp_path):
    model = _model(tmp_path / "m1")
    written = []
    fake.on_write = lambda name, data: written.append(name) or data
    uri, created = object_push.publish(str(model), ROOT, lease_seconds=_LEASE_SECONDS)
    version = uri.rsplit("/", 1)[1]
    assert created and serving_root.numbered_versions(ROOT) == [version]
    assert _objects(fake, version) == _files(model), "the version holds the model's bytes"
    marker = json.loads(fake.objects[(BUCKET, f"serving/{serving_root.PUBLISHED_DIR}/{version}")][0])
    assert marker["digest"] == object_push.digest(object_push.source_files(str(model)))
    version_writes = [name for name in written if name.startswith(f"serving/{version}/")]
    assert version_writes[-1].endswith("/saved_model.pb"), "TensorFlow Serving sees saved_model.pb last"
    assert written.index(f"serving/{serving_root.PUBLISHED_DIR}/{version}") > written.index(version_writes[-1])
    assert all(name.startswith("serving/.staging/") for name in written[1 : 1 + len(version_writes)]), "staged first"
    assert [n for n in fake.names(BUCKET) if ".staging" in n or n.endswith(".push.lock")] == [], "staging, lease gone"

    again, created_again = object_push.publish(str(model), ROOT, lease_seconds=_LEASE_SECONDS)
    assert (again, created_again) == (uri, False), "the same model is not pushed twice"
    newer, _ = object_push.publish(str(_model(tmp_path / "m2", b"weights-2")), ROOT, lease_seconds=_LEASE_SECONDS)
    assert int(newer.rsplit("/", 1)[1]) > int(version)
    assert serving_root.newest_version(ROOT) == newer


def test_a_copy_that_differs_from_its_source_is_not_published(fake, tmp_path):
    model = _model(tmp_path / "m")
    fake.on_write = lambda name, data: data[:-1] if name.endswith("variables.index") else data
    with pytest.raises(object_push.CopyVerificationError, match=r"variables/variables.index holds 4 bytes .* has 5"):
        object_push.publish(str(model), ROOT, lease_seconds=_LEASE_SECONDS)
    assert serving_root.numbered_versions(ROOT) == []
    assert not [name for name in fake.names(BUCKET) if ".staging" in name], "the staged copy is deleted"


_KILLED_PUSH = """
import sys
from components.pusher import object_push
object_push.publish(sys.argv[1], sys.argv[2], lease_seconds=float(sys.argv[3]))
"""


def _push_killed_at(fake, model, where) -> None:
    """Runs a push in a process and SIGKILLs it when it first writes an object for which `where(name)` holds."""
    killed = threading.Event()
    process = subprocess.Popen(
        [sys.executable, "-c", _KILLED_PUSH, str(model), ROOT, str(_LEASE_SECONDS)],
        cwd=REPO_ROOT,
        start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )

    def kill_there(name: str, data: bytes) -> bytes:
        if where(name) and not killed.is_set():
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
            killed.set()
        return data

    fake.on_write = kill_there
    try:
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        fake.on_write = lambda name, data: data
    assert killed.wait(timeout=10) and process.returncode == -signal.SIGKILL, (
        f"the push was not killed mid-copy (exit {process.returncode})"
    )


def _staging(name: str) -> bool:
    return name.startswith("serving/.staging/") and name.endswith("variables.index")


def _version_copy(name: str) -> bool:
    return name.split("/")[1].isdigit() and name.endswith("variables.index")


@pytest.mark.parametrize("where", [_staging, _version_copy], ids=["while staging", "while copying into the version"])
def test_a_push_killed_mid_copy_is_never_served_and_the_next_push_cleans_up(fake, tmp_path, where):
    from pipelines import status
    from tests.conftest import build_config
    from trainer import warm_start

    first, _ = object_push.publish(str(_model(tmp_path / "m1")), ROOT, lease_seconds=_LEASE_SECONDS)
    first_version = first.rsplit("/", 1)[1]
    start = tmp_path / "start"
    start.mkdir()
    (start / "weights.npz").write_bytes(b"w")
    killed_model = _model(tmp_path / "m2", b"weights-2")
    _push_killed_at(fake, killed_model, where)
    leftovers = [n for n in fake.names(BUCKET) if not n.startswith(f"serving/{first_version}/")]
    assert any(".staging/" in n or n.split("/")[1].isdigit() for n in leftovers), "the kill left copied objects"

    config = build_config(tmp_path / "in", tmp_path / "out", f"pusher.serving_root={ROOT}", check_local_paths=False)
    assert serving_root.numbered_versions(ROOT) == [first_version], "readers see only the published version"
    assert [version for version, _ in status.history(config).versions] == [first_version]
    assert warm_start.newest_served_start(ROOT) is None
    unmarked = {n.split("/")[1] for n in fake.names(BUCKET) if n.split("/")[1].isdigit()} - {first_version}
    for version in unmarked:
        with pytest.raises(ValueError, match=f"no version '{version}' under {ROOT}; versions: {first_version}"):
            status.rollback(config, version)

    newer, created = object_push.publish(
        str(killed_model), ROOT, {warm_start.SERVED_STARTS_DIR: str(start)}, lease_seconds=_LEASE_SECONDS
    )
    version = newer.rsplit("/", 1)[1]
    assert created and serving_root.numbered_versions(ROOT) == [first_version, version]
    assert _objects(fake, version) == _files(killed_model)
    assert not [n for n in fake.names(BUCKET) if ".staging" in n], "the killed push's staging is gone"
    assert {n.split("/")[1] for n in fake.names(BUCKET) if n.split("/")[1].isdigit()} == {first_version, version}
    assert warm_start.newest_served_start(ROOT) == f"{ROOT}/{warm_start.SERVED_STARTS_DIR}/{version}"


def test_two_concurrent_pushes_take_turns_and_publish_two_complete_versions(fake, tmp_path):
    models = [_model(tmp_path / f"m{index}", f"weights-{index}".encode()) for index in range(2)]
    results, errors = [], []

    def push(model):
        try:
            results.append(object_push.publish(str(model), ROOT, lease_seconds=_LEASE_SECONDS))
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=push, args=(model,)) for model in models]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == [] and len(results) == 2
    published = serving_root.numbered_versions(ROOT)
    assert len(set(published)) == 2
    assert sorted(_objects(fake, v)["saved_model.pb"] for v in published) == [b"graph:weights-0", b"graph:weights-1"]


def test_a_live_lease_makes_the_next_push_wait_and_name_its_holder(fake, tmp_path):
    with locks.holding(ROOT, serving_root.LOCK_FILE, "a push", lease_seconds=_LEASE_SECONDS):
        time.sleep(_LEASE_SECONDS * 1.5)  # beyond one lease period: the holder renews it
        with pytest.raises(
            locks.LockedError, match=rf"a push \(pid {os.getpid()}, since .*\) holds {ROOT}/\.push\.lock after waiting"
        ):
            object_push.publish(str(_model(tmp_path / "m")), ROOT, lock_timeout_seconds=1.0)
    assert serving_root.numbered_versions(ROOT) == []


def test_a_push_whose_lease_was_taken_over_publishes_nothing(fake, tmp_path):
    store, _ = object_store.store_for(ROOT)

    def take_over(name: str, data: bytes) -> bytes:
        if name.startswith("serving/1") and name.endswith("saved_model.pb"):  # the holder stalled; its lease expired
            fake.store(BUCKET, "serving/.push.lock", json.dumps({"what": "another push", "expires": 1e12}).encode())
        return data

    fake.on_write = take_over
    with pytest.raises(locks.LeaseLostError, match=r"gs://models/serving/\.push\.lock was taken over"):
        object_push.publish(str(_model(tmp_path / "m")), ROOT, lease_seconds=_LEASE_SECONDS)
    assert serving_root.numbered_versions(ROOT) == [], "no marker without the lease"
    assert store.stat("serving/.push.lock") is not None, "the new holder's lease is left alone"


def test_a_version_pushed_before_markers_is_kept_and_its_number_not_reused(fake, tmp_path):
    store, _ = object_store.store_for(ROOT)
    store.write("serving/9999999999/saved_model.pb", b"old complete model")
    uri, _ = object_push.publish(str(_model(tmp_path / "m")), ROOT, now=lambda: 100, lease_seconds=_LEASE_SECONDS)
    assert uri == f"{ROOT}/10000000000"
    assert store.stat("serving/9999999999/saved_model.pb") is not None
    assert serving_root.numbered_versions(ROOT) == ["10000000000"]


def test_rollback_in_object_storage_publishes_a_verified_copy(fake, tmp_path):
    from pipelines import run_summary, status
    from tests.conftest import build_config
    from trainer import warm_start

    start = tmp_path / "start"
    start.mkdir()
    (start / "weights.npz").write_bytes(b"first weights")
    first, _ = object_push.publish(
        str(_model(tmp_path / "m1")), ROOT, {warm_start.SERVED_STARTS_DIR: str(start)}, lease_seconds=_LEASE_SECONDS
    )
    second, _ = object_push.publish(str(_model(tmp_path / "m2", b"weights-2")), ROOT, lease_seconds=_LEASE_SECONDS)
    old = first.rsplit("/", 1)[1]
    config = build_config(tmp_path / "in", tmp_path / "out", f"pusher.serving_root={ROOT}", check_local_paths=False)
    served = status.rollback(config, old)
    assert int(served) > int(second.rsplit("/", 1)[1])
    assert _objects(fake, served) == _objects(fake, old), "the copy holds the earlier version's bytes"
    assert _objects(fake, f"{warm_start.SERVED_STARTS_DIR}/{served}") == {"weights.npz": b"first weights"}
    assert serving_root.numbered_versions(ROOT)[-1] == served
    summaries, _ = run_summary.read_all(config.pipeline.log_dir)
    assert [(s["outcome"], s["source_version"]) for _, s in summaries] == [(status.ROLLED_BACK, old)]
    assert status.rollback(config, old) == served, "rolling back to what is served does nothing"
    with pytest.raises(ValueError, match=rf"no version '7' under {ROOT}"):
        status.rollback(config, "7")


def test_the_executor_pushes_to_object_storage_once(fake, tmp_path):
    from components.pusher.executor import PUSHED_NEW_VERSION_PROPERTY
    from tests.components.test_pusher import _push, saved_model

    first = _push(tmp_path, saved_model(tmp_path / "run1" / "Format-Serving", 1.0), ROOT)
    (version,) = serving_root.numbered_versions(ROOT)
    assert first.get_string_custom_property("pushed_version") == version
    assert first.get_int_custom_property(PUSHED_NEW_VERSION_PROPERTY) == 1
    again = _push(tmp_path, tmp_path / "run1" / "Format-Serving", ROOT)
    assert again.get_int_custom_property(PUSHED_NEW_VERSION_PROPERTY) == 0
    assert serving_root.numbered_versions(ROOT) == [version]
