"""Fixed-window attempt counters in the shared Redis cache.

Threat: guessing access codes, or flooding intake, from many processes at once.
Choice: Redis INCR is atomic, so a parallel burst is counted exactly, whichever
web process serves each request; a per-process memory counter would not be.
"""

import ipaddress
import logging

from django.core.cache import cache
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

IPV6_PREFIX = 64


def address_key(ip: str) -> str:
    """The part of a client address that rate limits count by.

    An IPv4 address is one household or one carrier NAT, so it is counted whole. An
    IPv6 subscriber is usually given a whole /64 and picks addresses in it at will
    (privacy extensions rotate them daily), so counting single addresses would let one
    device multiply its allowance: the /64 is counted instead. An IPv4-mapped IPv6
    address counts as its IPv4 address; anything unparseable is counted as given.
    """
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return ip
    if address.version == 6 and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/{IPV6_PREFIX}", strict=False))
    return str(address)


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
