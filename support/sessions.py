"""The one idle-timeout rule, for staff sessions and for families' status pages."""

from __future__ import annotations

import time
from collections.abc import MutableMapping


def idle_expired(
    store: MutableMapping, key: str, *, timeout: int, touch_every: int = 0, now: float | None = None
) -> bool:
    """True if the last activity recorded under `store[key]` is more than `timeout`
    seconds ago (the caller then signs the person out); otherwise records now.

    Threat: an unattended, signed-in screen (a caseworker's laptop, a family's shared
    phone). Choice: a server-side clock in the session, so no client can keep a
    session alive by not sending a cookie refresh; `touch_every` limits how often
    the session row is rewritten. A missing record starts the clock.
    """
    now = time.time() if now is None else now
    last = store.get(key)
    if last is not None and now - last > timeout:
        return True
    if last is None or now - last >= touch_every:
        store[key] = now
    return False
