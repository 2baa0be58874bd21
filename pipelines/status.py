"""What is served, trained on what, pushed by which run; and rollback to an earlier version.

  python -m pipelines.status [--config FILE] [--runs 10]
  python -m pipelines.status rollback --to VERSION [--config FILE]

`status` lists the serving root's versions, newest first (TensorFlow Serving
loads the highest), each with the spans its model was trained on, its eval
metric, when and by which run it was pushed; then the latest runs that did not
push, and why. It reads the run summaries beside the logs
(pipelines/run_summary.py) and the serving root, nothing else.

`rollback` makes an earlier version the served one without deleting
anything: it publishes a copy of it as the newest version, atomically like
any push (components/pusher/versions.py; object_push.py in gs://), checked to hold the same bytes as
the version it copies (verified when that one was pushed), with its
warm-start weights, and records the rollback beside the run summaries.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import sys
from collections.abc import Sequence

from common import filesystem, object_store
from pipelines import config as config_lib
from pipelines import run_summary

__all__ = ["ROLLED_BACK", "History", "history", "main", "rollback"]

ROLLED_BACK = "rolled_back"


@dataclasses.dataclass(frozen=True)
class History:
    """The serving versions (newest first) with the summary that put each there, and the runs that pushed nothing."""

    versions: tuple[tuple[str, dict | None], ...]
    unpushed: tuple[dict, ...]
    unreadable: tuple[str, ...] = ()


def history(config: config_lib.PipelineConfig) -> History:
    """Reads the serving root and the run summaries."""
    from components.pusher import versions

    root = config.pusher.serving_root
    numbers = versions.numbered_versions(root)
    summaries, unreadable = run_summary.read_all(config.pipeline.log_dir)
    pushed_by: dict[str, dict] = {}
    for run_id, summary in summaries:
        if summary.get("outcome") in (run_summary.PUSHED, ROLLED_BACK) and summary.get("pushed_version"):
            pushed_by[summary["pushed_version"]] = {**summary, "run": run_id}
    unpushed = tuple(
        {**summary, "run": run_id}
        for run_id, summary in summaries
        if summary.get("outcome") not in (run_summary.PUSHED, run_summary.IDENTICAL, ROLLED_BACK)
    )
    return History(tuple((number, pushed_by.get(number)) for number in reversed(numbers)), unpushed, tuple(unreadable))


def _format(config: config_lib.PipelineConfig, found: History, runs: int) -> list[str]:
    lines = [f"{config.pipeline.name}: serving root {config.pusher.serving_root}"]
    if not found.versions:
        lines.append("  nothing is served yet")
    for index, (version, summary) in enumerate(found.versions):
        marker = "*" if index == 0 else " "
        if summary is None:
            lines.append(f"{marker} {version}  (no run summary: pushed outside this log folder)")
            continue
        if summary.get("outcome") == ROLLED_BACK:
            detail = f"rollback to version {summary['source_version']}"
        else:
            metric = summary.get("metric") or {}
            spans = ", ".join(map(str, summary.get("spans") or [])) or "?"
            value = f"{metric.get('name')} {metric.get('value'):.4f}" if metric else "no metric"
            detail = f"spans {spans}; {value}"
        lines.append(f"{marker} {version}  pushed {summary.get('started')} by {summary['run']}: {detail}")
    lines.append("  (* served: TensorFlow Serving loads the highest version)")
    if found.unpushed:
        lines.append(f"Latest runs that pushed nothing (of {len(found.unpushed)}):")
        for summary in found.unpushed[-runs:]:
            spans = ", ".join(map(str, summary.get("spans") or [])) or "?"
            verdict = run_summary.RunSummary(
                pipeline=config.pipeline.name,
                started=summary.get("started", ""),
                seconds=summary.get("seconds", 0.0),
                outcome=summary["outcome"],
                serving_version=summary.get("serving_version"),
                stopped_by=summary.get("stopped_by"),
                reason=summary.get("reason"),
            ).verdict()
            lines.append(f"  {summary.get('started')} {summary['run']} (spans {spans}): {verdict}")
    if found.unreadable:
        lines.append(f"Run summaries that cannot be read, left out ({len(found.unreadable)}):")
        lines += [f"  {item}" for item in found.unreadable]
    return lines


def rollback(config: config_lib.PipelineConfig, version: str) -> str:
    """Publishes a copy of `version` as the newest version; returns the version now served.

    Raises:
      ValueError: If the version does not exist, naming those that do.
    """
    from components.pusher import versions
    from trainer import warm_start

    root = config.pusher.serving_root
    available = versions.numbered_versions(root)
    if version not in available:
        raise ValueError(f"no version {version!r} under {root}; versions: {', '.join(available) or 'none'}")
    source = os.path.join(root, version)
    start = os.path.join(root, warm_start.SERVED_STARTS_DIR, version)
    if object_store.supports(root):
        from components.pusher import object_push

        # Each copy checked against its source; a version without warm-start weights keeps none.
        served, created = object_push.publish(source, root, {warm_start.SERVED_STARTS_DIR: start})
    else:
        served, created = _rollback_locally(source, root)
        if os.path.isdir(start):
            versions.keep_beside(start, root, warm_start.SERVED_STARTS_DIR, os.path.basename(served))
    new_version = os.path.basename(served)
    if created:
        stamp = datetime.datetime.now()
        record = {
            "pipeline": config.pipeline.name,
            "started": stamp.isoformat(timespec="seconds"),
            "seconds": 0.0,
            "outcome": ROLLED_BACK,
            "pushed_version": new_version,
            "source_version": version,
            "serving_root": root,
            "serving_version": new_version,
        }
        path = run_summary.path_for(config.pipeline.log_dir, f"rollback-{stamp.strftime('%Y%m%d-%H%M%S')}")
        filesystem.write_text_atomically(path, json.dumps(record, indent=2))
    return new_version


def _rollback_locally(source: str, root: str) -> tuple[str, bool]:
    """Publishes a copy of the version folder `source`, checked to hold its bytes (verified when it was pushed)."""
    from components.pusher import versions

    expected = versions.content_digest(source)

    def same_bytes(staged: str) -> None:
        if versions.content_digest(staged) != expected:
            raise ValueError(f"the copy of {source} in {staged} differs from it; nothing was published")

    return versions.publish(source, root, verify=same_bytes)


def main(argv: Sequence[str] | None = None) -> int:
    from pipelines.local_runner import DEFAULT_CONFIG

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", choices=["status", "rollback"], default="status")
    parser.add_argument("--config", default=os.environ.get("PIPELINE_CONFIG", DEFAULT_CONFIG))
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--to", help="rollback: the version to serve again")
    parser.add_argument("--runs", type=int, default=10, help="status: how many unpushed runs to list")
    args = parser.parse_args(argv)
    try:
        config = config_lib.load_config(args.config, args.overrides, check_local_paths=False)
        if args.command == "rollback":
            if not args.to:
                raise ValueError("rollback needs --to VERSION (python -m pipelines.status lists them)")
            served = rollback(config, args.to)
            print(f"serving version {served} (a copy of version {args.to}); nothing was deleted")
            return 0
        print("\n".join(_format(config, history(config), args.runs)))
        return 0
    except (config_lib.ConfigError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
