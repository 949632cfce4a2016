"""Each request's id, and the request being served, for the logs.

Every response carries X-Request-ID, and every log line written while a request is served carries
the same id (security/logs.py), so one request can be followed from the proxy's access log to
the application's lines. The id comes from the proxy when REQUEST_ID_FROM_PROXY is on and the proxy
replaces the header with its own (nginx's $request_id, Apache's mod_unique_id, Caddy's
{http.request.uuid}); otherwise, or when the value does not look like an id, one is made here. A
client can therefore never choose the id that marks its lines.
"""

import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar

from django.conf import settings
from django.http import HttpRequest, HttpResponse

# The request this thread or task is serving, for code that logs without being handed it
# (signal receivers, log handlers).
current_request: ContextVar[HttpRequest | None] = ContextVar("current_request", default=None)

# What the proxies above write: hexadecimal, a UUID, or mod_unique_id's base64 alphabet.
PROXY_REQUEST_ID = re.compile(r"[A-Za-z0-9@_+=/-]{16,64}\Z")


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.request_id = _from_proxy(request) or uuid.uuid4().hex
        token = current_request.set(request)
        try:
            response = self.get_response(request)
        finally:
            current_request.reset(token)
        response["X-Request-ID"] = request.request_id
        return response


def _from_proxy(request: HttpRequest) -> str | None:
    if not settings.REQUEST_ID_FROM_PROXY:
        return None
    value = request.headers.get("x-request-id", "")
    return value if PROXY_REQUEST_ID.match(value) else None
