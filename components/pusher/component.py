"""Pusher: TFX's Pusher with strictly increasing versions and no duplicate pushes."""

from __future__ import annotations

from tfx.components.pusher import component as pusher_component
from tfx.dsl.components.base import executor_spec

from components.pusher import executor

__all__ = ["Pusher"]


class Pusher(pusher_component.Pusher):
    """Same inputs and outputs as tfx Pusher; see components/pusher/executor.py for the differences."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)
