"""AtomicPusher: verified, atomic, exclusive pushes to a versioned serving root, never the same model twice."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import tensorflow as tf
from tfx.types import standard_artifacts

from common import locks
from components.pusher import PushVerificationError, versions
from components.pusher.executor import PUSHED_NEW_VERSION_PROPERTY, AtomicPushExecutor
from tests.conftest import REPO_ROOT


def saved_model(folder, value: float = 1.0):
    """A small SavedModel whose serving_default maps serialized examples to `value` each."""

    class Constant(tf.Module):
        def __init__(self):
            super().__init__()
            self.value = tf.Variable(value)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve(self, examples):
            return {"predictions": tf.fill(tf.shape(examples), self.value)}

    module = Constant()
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve})
    return folder


def _served_value(version_dir) -> float:
    signature = tf.saved_model.load(str(version_dir)).signatures["serving_default"]
    return float(signature(examples=tf.constant([b"x"]))["predictions"].numpy()[0])


def _numbered(root) -> list[str]:
    return sorted((name for name in os.listdir(root) if name.isdigit()), key=int) if os.path.exists(root) else []


# --- version helpers ------------------------------------------------------------------------------


def test_newest_version_is_the_highest_number(tmp_path):
    assert versions.newest_version(str(tmp_path / "missing")) is None
    for name in ("9", "100", "notes", "25", ".staging-abc"):
        (tmp_path / name).mkdir()
    assert versions.newest_version(str(tmp_path)) == str(tmp_path / "100")


def test_next_version_is_time_or_above_the_newest(tmp_path):
    assert versions.next_version(str(tmp_path), now=500) == 500
    (tmp_path / "700").mkdir()
    assert versions.next_version(str(tmp_path), now=500) == 701
    assert versions.next_version(str(tmp_path), now=900) == 900


def test_content_digest_sees_bytes_and_names(tmp_path):
    first = saved_model(tmp_path / "a", 1.0)
    shutil.copytree(first, tmp_path / "copy")
    assert versions.content_digest(str(first)) == versions.content_digest(str(tmp_path / "copy"))
    assert versions.content_digest(str(first)) != versions.content_digest(str(saved_model(tmp_path / "c", 2.0)))
    (tmp_path / "copy" / "saved_model.pb").rename(tmp_path / "copy" / "other.pb")
    assert versions.content_digest(str(first)) != versions.content_digest(str(tmp_path / "copy"))


# --- publish: atomic, exclusive, verified -------------------------------------------------------------


def _verify(path: str) -> None:
    from components.pusher.executor import verify_serving

    verify_serving(path, b"")


def test_publish_renames_a_verified_copy_into_the_next_version(tmp_path):
    root = tmp_path / "serving"
    path, created = versions.publish(str(saved_model(tmp_path / "m1", 1.0)), str(root), _verify, now=lambda: 100)
    assert created and path == str(root / "100") and _served_value(path) == 1.0
    shutil.copytree(tmp_path / "m1", tmp_path / "m1b")  # the same model again, as a cached Trainer gives it
    again, created = versions.publish(str(tmp_path / "m1b"), str(root), _verify, now=lambda: 100)
    assert not created and again == path, "an identical model is not pushed twice"
    newer, created = versions.publish(str(saved_model(tmp_path / "m2", 2.0)), str(root), _verify, now=lambda: 100)
    assert created and newer == str(root / "101") and _served_value(newer) == 2.0
    assert sorted(os.listdir(root)) == [versions.LOCK_FILE, "100", "101"], "no staging folder is left"


def test_a_model_that_does_not_serve_is_not_published(tmp_path):
    root = tmp_path / "serving"
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "saved_model.pb").write_bytes(b"not a model")
    with pytest.raises(PushVerificationError, match="does not load with a serving_default signature"):
        versions.publish(str(broken), str(root), _verify)
    nan = saved_model(tmp_path / "nan", float("nan"))
    with pytest.raises(PushVerificationError, match="serves a non-finite 'predictions'"):
        versions.publish(str(nan), str(root), _verify)
    assert sorted(os.listdir(root)) == [versions.LOCK_FILE]


def _race(model_dir: str, root: str, barrier, results) -> None:
    """One racing pusher (a separate process): waits for the other, then publishes with a slow copy."""
    import shutil

    def slow_copy(source: str, target: str) -> None:
        shutil.copytree(source, target)
        time.sleep(1.0)  # hold the lock while the other pusher waits for it

    barrier.wait(timeout=120)
    path, created = versions.publish(model_dir, root, _verify, now=lambda: 1000, copy_tree=slow_copy)
    results.put((path, created))


def test_two_racing_pushers_publish_two_distinct_complete_versions(tmp_path):
    root = str(tmp_path / "serving")
    models = [str(saved_model(tmp_path / f"m{value}", float(value))) for value in (1, 2)]
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    processes = [context.Process(target=_race, args=(model, root, barrier, results)) for model in models]
    for process in processes:
        process.start()
    try:
        outcomes = [results.get(timeout=240) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    assert all(created for _, created in outcomes)
    assert sorted(os.path.basename(path) for path, _ in outcomes) == ["1000", "1001"], "one number each"
    assert sorted(_served_value(os.path.join(root, name)) for name in _numbered(root)) == [1.0, 2.0]


_KILLED_PUSH = """
import shutil, sys, time
from components.pusher import versions

def copy_then_hang(source, target):
    shutil.copytree(source, target)
    open(sys.argv[3], "w").close()  # tell the test the copy is under way
    time.sleep(600)

versions.publish(sys.argv[1], sys.argv[2], lambda path: None, copy_tree=copy_then_hang)
"""


def test_a_push_killed_mid_copy_leaves_no_version_and_the_next_push_cleans_up(tmp_path):
    root, marker = tmp_path / "serving", tmp_path / "copying"
    model = saved_model(tmp_path / "m", 3.0)
    process = subprocess.Popen(
        [sys.executable, "-c", _KILLED_PUSH, str(model), str(root), str(marker)],
        cwd=REPO_ROOT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.exists(), "the push never started copying"
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert _numbered(root) == [], "TensorFlow Serving would see no version"
    assert any(name.startswith(versions.STAGING_PREFIX) for name in os.listdir(root))

    path, created = versions.publish(str(model), str(root), _verify)
    assert created and _served_value(path) == 3.0
    assert not any(name.startswith(versions.STAGING_PREFIX) for name in os.listdir(root)), "the stale copy is gone"


def test_a_held_lock_times_out_naming_the_lock_file(tmp_path):
    root = str(tmp_path / "serving")
    with versions.serving_lock(root):
        with pytest.raises(locks.LockedError, match=r"a push \(pid \d+, since .*\) holds .*\.push\.lock after waiting"):
            versions.publish(str(saved_model(tmp_path / "m")), root, _verify, lock_timeout_seconds=0.5)


# --- the executor -----------------------------------------------------------------------------------------


def _push(tmp_path, model_dir, serving_root, blessed=True):
    model = standard_artifacts.Model()
    model.uri = str(model_dir.parent)
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / "blessing")
    blessing.set_int_custom_property("blessed", int(blessed))
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / f"pushed-{len(list(tmp_path.glob('pushed-*')))}")
    destination = {"filesystem": {"base_directory": str(serving_root)}}
    AtomicPushExecutor().Do(
        {"model": [model], "model_blessing": [blessing]},
        {"pushed_model": [pushed]},
        {"push_destination": json.dumps(destination)},
    )
    return pushed


def test_the_executor_pushes_once_and_records_whether_it_added_a_version(tmp_path):
    serving_root = tmp_path / "serving"
    first = _push(tmp_path, saved_model(tmp_path / "run1" / "Format-Serving", 1.0), serving_root)
    (version,) = _numbered(serving_root)
    assert first.get_int_custom_property("pushed") == 1
    assert first.get_int_custom_property(PUSHED_NEW_VERSION_PROPERTY) == 1

    shutil.copytree(tmp_path / "run1", tmp_path / "run2")  # the same model again, as a cached Trainer gives it
    again = _push(tmp_path, tmp_path / "run2" / "Format-Serving", serving_root)
    assert _numbered(serving_root) == [version]
    assert (
        again.get_int_custom_property("pushed") == 1 and again.get_string_custom_property("pushed_version") == version
    )
    assert again.get_int_custom_property(PUSHED_NEW_VERSION_PROPERTY) == 0

    changed = _push(tmp_path, saved_model(tmp_path / "run3" / "Format-Serving", 2.0), serving_root)
    new_version = changed.get_string_custom_property("pushed_version")
    assert int(new_version) > int(version) and _served_value(serving_root / new_version) == 2.0


def test_an_unblessed_model_is_not_pushed(tmp_path):
    serving_root = tmp_path / "serving"
    pushed = _push(tmp_path, saved_model(tmp_path / "run" / "Format-Serving"), serving_root, blessed=False)
    assert pushed.get_int_custom_property("pushed") == 0
    assert not serving_root.exists()
