"""Counting in the shared cache, for the lockout, the CSP report limit, the alerts and the upload
quota.

Redis's INCR is atomic, so app servers counting at once never lose a count; production refuses a
cache that is not shared or does not count atomically (check W006).
"""

from django.core.cache import cache


def increment(key: str, timeout: int, by: int = 1) -> int:
    """Add by (one) to the count under key, started at zero for timeout seconds when there is
    none; return the count, this one included."""
    for _ in range(3):
        cache.add(key, 0, timeout=timeout)
        try:
            return cache.incr(key, by)
        except ValueError:
            continue  # the key expired between add() and incr(): start it again
    raise RuntimeError(
        "The default cache does not keep counts (is it the dummy cache?): what it should count "
        "cannot be limited."
    )
