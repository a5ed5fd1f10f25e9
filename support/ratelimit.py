"""Fixed-window attempt counters in the shared Redis cache.

Threat: guessing access codes, or flooding intake, from many processes at once.
Choice: Redis INCR is atomic, so a parallel burst is counted exactly, whichever
web process serves each request; a per-process memory counter would not be.
"""

from django.core.cache import cache


def hit(key: str, *, limit: int, window: int) -> bool:
    """Count one attempt under `key`; True while the count is within `limit`."""
    key = f"rl:{key}"
    cache.add(key, 0, timeout=window)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr: start a new window
        cache.add(key, 1, timeout=window)
        count = 1
    return count <= limit


def is_blocked(key: str, *, limit: int) -> bool:
    return (cache.get(f"rl:{key}") or 0) >= limit
