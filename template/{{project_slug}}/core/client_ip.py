"""The client's IP address: the one place the project reads it, so that lockout, rate limits and
security logs all agree on who the client is.

Each proxy in front of Django appends the address it received the request from to X-Forwarded-For.
Only the entries added by the TRUSTED_PROXY_COUNT proxies we run are trustworthy; anything further
left was written by the client and may be forged. So the client is the entry TRUSTED_PROXY_COUNT
places from the right, and REMOTE_ADDR when no proxy is trusted, or when TRUSTED_PROXY_NETWORKS
names where the nearest proxy connects from and the connection came from elsewhere.

A connection on a Unix socket has no address (gunicorn leaves REMOTE_ADDR empty): the socket's file
mode decides who may connect, and with hosting vps that is the proxy's user alone, so such a
connection is the proxy's whatever TRUSTED_PROXY_NETWORKS lists. Taking it as the client instead
would give every client the same empty address, and one attacker's failures would lock out all.
"""

from ipaddress import IPv6Address, ip_address, ip_network

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """Return the client's address, normalised (IPv6 compressed, IPv4-mapped IPv6 as IPv4)."""
    remote_addr = request.META.get("REMOTE_ADDR", "")
    count = settings.TRUSTED_PROXY_COUNT
    if count == 0 or not _from_trusted_network(remote_addr):
        return _parse(remote_addr) or remote_addr
    # Several X-Forwarded-For headers in one request arrive joined by commas, in order.
    hops = [hop.strip() for hop in request.headers.get("x-forwarded-for", "").split(",")]
    hops = [hop for hop in hops if hop]
    if len(hops) >= count and (address := _parse(hops[-count])):
        return address
    # The request did not pass through every proxy we trust (a health check sent to the reverse
    # proxy, or a CDN bypassed). Any entry but the last may then be the client's own; the last is
    # what our nearest proxy saw, which no client can write. (A client that can bypass the CDN can
    # still forge the entry the CDN would have written: let the reverse proxy accept connections
    # from the CDN's addresses only.)
    if hops and (address := _parse(hops[-1])):
        return address
    return _parse(remote_addr) or remote_addr


def _from_trusted_network(remote_addr: str) -> bool:
    """Whether the connection may be the nearest proxy's: always on a Unix socket (no address) or
    when TRUSTED_PROXY_NETWORKS is empty; otherwise when it comes from one of those networks."""
    networks = settings.TRUSTED_PROXY_NETWORKS
    if not networks or not remote_addr:
        return True
    address = _parse(remote_addr)
    return address is not None and any(
        ip_address(address) in ip_network(network) for network in networks
    )


def _parse(value: str) -> str | None:
    """The address in value, or None when value is not one. Accepts the "address:port" and
    "[address]:port" forms some load balancers write; refuses IPv6 zone identifiers."""
    if value.startswith("[") and "]" in value:
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:
        value = value.partition(":")[0]
    try:
        address = ip_address(value)
    except ValueError:
        return None
    if isinstance(address, IPv6Address):
        if address.scope_id is not None:
            return None
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
    return str(address)
