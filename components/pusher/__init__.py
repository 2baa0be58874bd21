"""AtomicPusher: blessed models published atomically to a versioned serving root, one push at a time."""

from components.pusher.component import AtomicPusher
from components.pusher.executor import PushVerificationError

__all__ = ["AtomicPusher", "PushVerificationError"]
