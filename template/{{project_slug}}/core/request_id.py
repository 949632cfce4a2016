"""Each request's id, and the request being served, for the logs.

Every response carries X-Request-ID (security/headers.py), and every log line written while a
request is served carries the same id (security/logs.py), so one request can be followed from the
proxy's access log to the application's lines. The id comes from the proxy when
REQUEST_ID_FROM_PROXY is on and the proxy replaces the header with its own (nginx's $request_id,
Apache's mod_unique_id, Caddy's {http.request.uuid}); otherwise, or when the value does not look
like an id, one is made here. A client can therefore never choose the id that marks its lines.
"""

import os
import re
from contextvars import ContextVar

from django.conf import settings
from django.http import HttpRequest

# The request this thread or task is serving, for code that logs without being handed it
# (signal receivers, log handlers).
current_request: ContextVar[HttpRequest | None] = ContextVar("current_request", default=None)

# What the proxies above write: hexadecimal, a UUID, or mod_unique_id's base64 alphabet.
PROXY_REQUEST_ID = re.compile(r"[A-Za-z0-9@_+=/-]{16,64}\Z")
# The proxy's X-Request-ID as WSGI names it.
PROXY_HEADER = "HTTP_X_REQUEST_ID"


def request_id(request: HttpRequest) -> str:
    """The proxy's id for this request when it is trusted and well formed, else a new one."""
    if settings.REQUEST_ID_FROM_PROXY:
        # request.META, not request.headers: this runs on every request, before anything else
        # needs the headers, and building request.headers costs more than the lookup.
        value = request.META.get(PROXY_HEADER, "")
        if PROXY_REQUEST_ID.match(value):
            return value
    # 32 random hexadecimal digits, like uuid4().hex, without building a UUID object: a fifth of
    # the cost, on every request.
    return os.urandom(16).hex()
