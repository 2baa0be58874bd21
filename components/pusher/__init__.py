"""Pusher: pushes blessed models to a versioned serving root, never the same model twice in a row."""

from components.pusher.component import Pusher

__all__ = ["Pusher"]
