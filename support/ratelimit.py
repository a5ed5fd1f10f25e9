"""Fixed-window attempt counters in the shared Redis cache.

Threat: guessing access codes, or flooding intake, from many processes at once.
Choice: Redis INCR is atomic, so a parallel burst is counted exactly, whichever
web process serves each request; a per-process memory counter would not be.
"""

import logging

from django.core.cache import cache
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


def hit(key: str, *, limit: int, window: int, fail_open: bool = False) -> bool:
    """Count one attempt under `key`; True while the count is within `limit`.

    With Redis unreachable the answer is `fail_open`: True where losing the
    request costs more than an unthrottled minute (a family sending a report),
    False where a guess must never go unthrottled (access codes).
    """
    key = f"rl:{key}"
    try:
        cache.add(key, 0, timeout=window)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr: start a new window
            cache.add(key, 1, timeout=window)
            count = 1
    except RedisError:
        log.warning("rate limit store unreachable; failing %s", "open" if fail_open else "closed")
        return fail_open
    return count <= limit


def is_blocked(key: str, *, limit: int) -> bool:
    return (cache.get(f"rl:{key}") or 0) >= limit
