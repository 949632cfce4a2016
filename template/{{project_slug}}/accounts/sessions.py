"""Session lifetime: an idle timeout and an absolute lifetime for every signed-in session.

Django's own expiry (SESSION_COOKIE_AGE) moves forward whenever the session is saved, so it bounds
neither how long a stolen session stays useful nor how long an abandoned one survives. This
middleware keeps two timestamps in the session and ends it when either limit is passed.
"""

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse

SIGNED_IN_AT = "signed_in_at"
LAST_SEEN_AT = "last_seen_at"
# Recording every request would write the session on every request; a minute's precision is enough
# for timeouts measured in tens of minutes.
LAST_SEEN_PRECISION = 60


def start(request: HttpRequest) -> None:
    """Record the sign-in; called when a user logs in (signals.py)."""
    now = int(time.time())
    request.session[SIGNED_IN_AT] = now
    request.session[LAST_SEEN_AT] = now


def expired(request: HttpRequest, now: int) -> bool:
    session = request.session
    signed_in_at = session.setdefault(SIGNED_IN_AT, now)
    last_seen_at = session.setdefault(LAST_SEEN_AT, now)
    return (
        now - signed_in_at > settings.SESSION_ABSOLUTE_TIMEOUT
        or now - last_seen_at > settings.SESSION_IDLE_TIMEOUT
    )


class SessionTimeoutMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Without a session cookie nobody is signed in: no need to load the user.
        if settings.SESSION_COOKIE_NAME in request.COOKIES and request.user.is_authenticated:
            now = int(time.time())
            if expired(request, now):
                logout(request)
                return redirect_to_login(request.get_full_path())
            if now - request.session[LAST_SEEN_AT] >= LAST_SEEN_PRECISION:
                request.session[LAST_SEEN_AT] = now
        return self.get_response(request)
