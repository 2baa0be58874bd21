"""AtomicPusher: blessed models published atomically to a versioned serving root, one push at a time.

The names below load on first use: `pipelines.status` reads the serving root (versions.py) without TFX.
"""

from common import lazy

__all__ = ["AtomicPusher", "PushVerificationError"]

__getattr__ = lazy.exports(
    __name__, {"AtomicPusher": "components.pusher.component", "PushVerificationError": "components.pusher.executor"}
)
