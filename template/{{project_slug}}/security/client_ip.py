"""The client's IP address, the one answer the whole project uses (lockout, rate limits, logs).

Each proxy in front of Django appends the address it received the request from to X-Forwarded-For.
Only the entries added by the TRUSTED_PROXY_COUNT proxies we run are trustworthy; anything further
left was written by the client and may be forged. So the client is the entry TRUSTED_PROXY_COUNT
places from the right, and REMOTE_ADDR when no proxy is trusted.
"""

from ipaddress import ip_address

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """Return the client's address, normalised (an IPv6 address in its compressed form)."""
    remote_addr = request.META.get("REMOTE_ADDR", "")
    count = settings.TRUSTED_PROXY_COUNT
    if count == 0:
        return _parse(remote_addr) or remote_addr
    # Several X-Forwarded-For headers in one request arrive joined by commas, in order.
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    trusted = [hop for hop in hops if hop][-count:]
    # The leftmost trusted entry is the client. When it is missing or malformed, the request did
    # not pass through every proxy (a health check sent straight to gunicorn, or a bypassed CDN),
    # and the nearest address a trusted proxy did record is the honest answer.
    for hop in trusted:
        if address := _parse(hop):
            return address
    return _parse(remote_addr) or remote_addr


def _parse(value: str) -> str | None:
    try:
        return str(ip_address(value))
    except ValueError:
        return None
