"""The Pusher's version helpers and its refusal to push an identical model twice."""

from __future__ import annotations

import json

from tfx.types import standard_artifacts

from components.pusher import versions
from components.pusher.executor import Executor


def _model_dir(root, name: str, weights: bytes = b"w1"):
    folder = root / name
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"graph")
    (folder / "variables" / "variables.data-00000-of-00001").write_bytes(weights)
    return folder


def test_newest_version_is_the_highest_number(tmp_path):
    assert versions.newest_version(str(tmp_path / "missing")) is None
    for name in ("9", "100", "notes", "25"):
        (tmp_path / name).mkdir()
    assert versions.newest_version(str(tmp_path)) == str(tmp_path / "100")


def test_content_digest_sees_bytes_and_names(tmp_path):
    first = versions.content_digest(str(_model_dir(tmp_path, "a")))
    assert first == versions.content_digest(str(_model_dir(tmp_path, "b")))
    assert first != versions.content_digest(str(_model_dir(tmp_path, "c", weights=b"w2")))
    renamed = _model_dir(tmp_path, "d")
    (renamed / "saved_model.pb").rename(renamed / "other.pb")
    assert first != versions.content_digest(str(renamed))


def _push(tmp_path, model_dir, serving_root, blessed=True):
    model = standard_artifacts.Model()
    model.uri = str(model_dir.parent)
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / "blessing")
    blessing.set_int_custom_property("blessed", int(blessed))
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / f"pushed-{len(list(tmp_path.glob('pushed-*')))}")
    destination = {"filesystem": {"base_directory": str(serving_root)}}
    Executor().Do(
        {"model": [model], "model_blessing": [blessing]},
        {"pushed_model": [pushed]},
        {"push_destination": json.dumps(destination)},
    )
    return pushed


def test_identical_model_is_not_pushed_again_and_a_changed_one_is(tmp_path):
    serving_root = tmp_path / "serving"
    first = _model_dir(tmp_path / "run1", "Format-Serving")
    pushed = _push(tmp_path, first, serving_root)
    (version,) = serving_root.iterdir()
    assert pushed.get_int_custom_property("pushed") == 1

    again = _push(tmp_path, _model_dir(tmp_path / "run2", "Format-Serving"), serving_root)
    assert list(serving_root.iterdir()) == [version]
    assert again.get_int_custom_property("pushed") == 1
    assert again.get_string_custom_property("pushed_version") == version.name

    # A different model in the same second still gets its own, higher version.
    changed = _push(tmp_path, _model_dir(tmp_path / "run3", "Format-Serving", weights=b"new"), serving_root)
    new_version = changed.get_string_custom_property("pushed_version")
    assert int(new_version) > int(version.name)
    assert (serving_root / new_version / "variables" / "variables.data-00000-of-00001").read_bytes() == b"new"
    assert (serving_root / new_version / "saved_model.pb").exists()


def test_next_version_is_time_or_above_the_newest(tmp_path):
    assert versions.next_version(str(tmp_path), now=500) == 500
    (tmp_path / "700").mkdir()
    assert versions.next_version(str(tmp_path), now=500) == 701
    assert versions.next_version(str(tmp_path), now=900) == 900


def test_unblessed_model_is_not_pushed(tmp_path):
    serving_root = tmp_path / "serving"
    pushed = _push(tmp_path, _model_dir(tmp_path / "run", "Format-Serving"), serving_root, blessed=False)
    assert pushed.get_int_custom_property("pushed") == 0
    assert not serving_root.exists()
