"""run_fn that gives each worker its own umask, so the files a worker creates show who created it.

Worker 0 (the chief) creates files without group write (0o644), every other
worker with it (0o664). TensorFlow's file writers honour the process umask.
"""

from __future__ import annotations

import json
import os

CHIEF_UMASK, OTHER_UMASK = 0o022, 0o002


def run_fn(fn_args) -> None:
    index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    os.umask(CHIEF_UMASK if index == 0 else OTHER_UMASK)
    from trainer.task import run_fn as real_run_fn

    real_run_fn(fn_args)
