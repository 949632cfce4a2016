"""While PostgreSQL or Redis cannot be reached: 503 with a page that says so, and one alert.

Django answers an exception that nothing handled at the layer that raised it, a view or any
middleware (the session and the user are loaded from the database when a middleware first asks
for them; the lockout counts in the cache), by calling the URLconf's handler500 while the
exception is being handled. server_error is that handler (config/urls.py): the one place that sees
them all. A middleware's process_exception sees only the views' exceptions, and a middleware
around the others gets the layer below's finished 500, not its exception.

An outage is a failure to reach the server, not an error the server reports:

- the cache: redis-py's ConnectionError (refused, reset, still loading its data) and TimeoutError;
- the database: Django's OperationalError or InterfaceError from a driver error without SQLSTATE
  (the connection could not be made, or was lost), or with one that says the server is not serving
  (class 08, connection exception; 57P01 to 57P03, shutting down or starting up; 53300, too many
  connections). A deadlock, a cancelled statement or any other error stays a 500.

Both pages, 503 and 500, are rendered without the request: the context processors would load the
session and the user from the database or the cache, which may be what failed. The response goes
back up through the middleware above the failing layer, so SecurityHeadersMiddleware gives it the
security headers and its X-Request-ID.

Alerts go out once per service per ALERT_QUIET_SECONDS, and cannot use what is down. While the
database is down, the first process to claim the outage in the cache alerts, once for all the app
servers. While the cache is down (or the cache fails too), each app server claims it in a file of
its temporary folder (private to the service: systemd's PrivateTmp, the container's tmpfs), under
a lock its worker processes share: one alert per app server. A process that cannot use the file
alerts on its own, once. The claim is logged as service.unavailable in the
security log; Django's request log has every answer.
"""

import contextlib
import fcntl
import logging
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.template.loader import render_to_string
from django.utils.cache import add_never_cache_headers
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..core.events import log_event
from .alerts import ALERT_QUIET_SECONDS, Rule, _deliver

# What the 503 asks clients to wait: a restarted Redis or PostgreSQL, or a failover, takes about as
# long. Browsers ignore it; crawlers and API clients do not.
RETRY_AFTER_SECONDS = 60
# SQLSTATEs of a server that is not serving (PostgreSQL's appendix A), by class or in full.
UNAVAILABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300")
ALERTS = {
    "database": Rule("The database cannot be reached: every page answers 503."),
    "cache": Rule("Redis cannot be reached: sign-in and the rate-limited actions answer 503."),
}

# service -> when this process last claimed, or found claimed, its outage.
_claimed: dict[str, float] = {}
_claiming = threading.Lock()


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: 503 for an outage, the site's 500 page for everything else."""
    service = unavailable_service(sys.exception())
    if service is None:
        response = HttpResponseServerError(
            render_to_string("500.html", {"site_name": settings.SITE_NAME})
        )
    else:
        _alert_once(request, service, sys.exception())
        page = render_to_string("503.html", {"site_name": settings.SITE_NAME, "service": service})
        response = HttpResponse(page, status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        add_never_cache_headers(response)
    # XFrameOptionsMiddleware sits below the middleware that load the session and the user, so it
    # never sees the answer to an error raised there; the middleware above add the other headers.
    response["X-Frame-Options"] = settings.X_FRAME_OPTIONS
    return response


def unavailable_service(error: BaseException | None) -> str | None:
    """The service ("database" or "cache") that error, or an error it was raised from or while
    handling, failed to reach; None when it is no outage."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, RedisConnectionError | RedisTimeoutError):
            return "cache"
        if isinstance(error, OperationalError | InterfaceError):
            # psycopg's error, which has a sqlstate (None when the server said nothing);
            # SQLite's errors have none, and are never an outage of a server.
            sqlstate = getattr(error.__cause__, "sqlstate", "")
            if sqlstate is None or sqlstate.startswith(UNAVAILABLE_SQLSTATES):
                return "database"
            return None
        error = error.__cause__ or error.__context__
    return None


def _alert_once(request: HttpRequest, service: str, error: BaseException) -> None:
    if not _claim(service):
        return
    reason = f"{type(error).__name__}: {error}"[:300]
    # Not the signed-in user: finding them needs the session, and so the database.
    log_event(
        "service.unavailable",
        request,
        level=logging.ERROR,
        signed_in_user=False,
        service=service,
        error=reason,
    )
    try:
        _deliver(ALERTS[service], {"event": "service.unavailable", "service": service})
    except Exception as failure:
        # The mail server or the webhook failed too; the request still gets its 503.
        log_event(
            "alert.failed",
            level=logging.ERROR,
            signed_in_user=False,
            alert="service.unavailable",
            error=f"{type(failure).__name__}: {failure}"[:300],
        )


def _claim(service: str) -> bool:
    """True for the one caller that is to alert about this outage (see the module's doc)."""
    now = time.time()
    with _claiming:
        # Checked first, so an outage costs each process one claim an hour, not one a request.
        if now - _claimed.get(service, -ALERT_QUIET_SECONDS) < ALERT_QUIET_SECONDS:
            return False
        _claimed[service] = now
    if service != "cache":
        # Unless the cache is down too; then the claim is made on this server.
        with contextlib.suppress(Exception):
            return cache.add(f"outages:{service}:alerted", 1, timeout=ALERT_QUIET_SECONDS)
    return _claim_on_this_server(service, now)


def _claim_on_this_server(service: str, now: float) -> bool:
    path = Path(tempfile.gettempdir()) / f"{__name__.split('.')[0]}-{service}-outage-alerted"
    try:
        # O_NOFOLLOW: another local user's symlink there cannot make this process write elsewhere.
        marker = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError:
        return True  # no shared claim is possible: this process has claimed its own
    with os.fdopen(marker, "r+") as file:
        if os.fstat(marker).st_uid != os.geteuid():
            return True  # someone else's file could silence the alert
        fcntl.flock(file, fcntl.LOCK_EX)  # released when the file closes
        try:
            last = float(file.read() or "-inf")
        except ValueError:
            last = float("-inf")
        if now - last < ALERT_QUIET_SECONDS:
            return False
        file.seek(0)
        file.truncate()
        file.write(str(now))
        return True
