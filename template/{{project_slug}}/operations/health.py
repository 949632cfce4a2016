"""Liveness and readiness, for load balancers, containers, systemd and platforms.

- /health/live/: the process answers requests. It touches nothing else, so a database outage never
  has every app server restarted at once.
- /health/ready/: this app server can serve the site: PostgreSQL answers a query, the cache
  (Redis) a round trip, the upload storage is there, and clamd answers PING when uploads are
  scanned. Each check is bounded by the timeouts the settings give those services (2 s for Redis,
  CLAMD_CONNECT_TIMEOUT, the S3 client's) and by HEALTH_DATABASE_TIMEOUT_MS for the query.

A few lines of the project's own rather than django-health-check: these four checks are all the
site needs, they reuse the services' own settings and timeouts, and the answers say nothing but
"ok" or "unavailable" (no component names, versions or errors for the caller), without a template,
a status page or another dependency to keep pinned and audited.

Neither view reads the session or the user, so a probe never creates a session or a cookie. A
probe comes every few seconds: a failing check is logged once when readiness is lost and once
when it returns (health.not_ready, health.ready), not on every probe, and Django's request log is
told the 503 is handled.
"""

import logging
import os
import socket
import threading
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.core.files.storage import FileSystemStorage, storages
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from ..core.events import log_event

# The readiness query's limit: PostgreSQL answers SELECT 1 in a millisecond.
HEALTH_DATABASE_TIMEOUT_MS = 2000

# Per process: the checks that failed at the last probe, so a change is logged once.
_failing: set[str] = set()
_lock = threading.Lock()

# One readiness check at a time on this host. The path is public: a flood of probes would
# otherwise send a query, a cache round trip and a storage request each, and while a service
# hangs would hold every worker for that service's timeout. A probe that comes while a check is
# under way answers that host's last verdict, or unavailable when it has none from the last
# minute (at the first start: a load balancer's next probe finds the verdict). CHECKING_FOR
# outlasts the slowest check (gunicorn's timeout), so a worker killed in one frees the place.
CHECKING = f"health:checking:{socket.gethostname()}"
VERDICT = f"health:verdict:{socket.gethostname()}"
CHECKING_FOR = 30


def plain(text: str, status: int = 200) -> HttpResponse:
    return HttpResponse(text + "\n", status=status, content_type="text/plain; charset=utf-8")


@never_cache
@require_safe
def live(request: HttpRequest) -> HttpResponse:
    return plain("ok")


@never_cache
@require_safe
def ready(request: HttpRequest) -> HttpResponse:
    if shared(cache.add, CHECKING, True, CHECKING_FOR) is False:
        ok = shared(cache.get, VERDICT) is True
    else:
        try:
            failing = {name for name, check in checks().items() if not passes(check)}
            record(failing)
            ok = not failing
            shared(cache.set, VERDICT, ok, CHECKING_FOR * 2)
        finally:
            shared(cache.delete, CHECKING)
    if ok:
        return plain("ok")
    response = plain("unavailable", status=503)
    # Django logs every 5xx answer as an error; readiness already logged the change above.
    response._has_been_logged = True  # read by django.utils.log.log_response
    return response


def shared(operation, *args):
    """The cache operation's result, or None when the cache fails: its own check says so."""
    try:
        return operation(*args)
    except Exception:
        return None


def checks() -> dict:
    """The services this configuration uses, by name."""
    found = {"database": database, "cache": cache_round_trip}
    if "uploads" in settings.STORAGES:
        found["upload storage"] = upload_storage
    if getattr(settings, "CLAMD_ADDRESS", None):
        found["clamd"] = clamd
    return found


def passes(check) -> bool:
    try:
        check()
    except Exception:
        # Whatever failed, the site is not ready; the caller learns nothing more.
        return False
    return True


def record(failing: set[str]) -> None:
    with _lock:
        lost, back = failing - _failing, _failing - failing
        _failing.clear()
        _failing.update(failing)
    if lost:
        log_event("health.not_ready", level=logging.ERROR, failing=sorted(failing))
    if back and not failing:
        log_event("health.ready", level=logging.INFO, recovered=sorted(back))


def database() -> None:
    # SET LOCAL lasts until the end of this transaction, not on the connection the site reuses.
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL statement_timeout = %s", [HEALTH_DATABASE_TIMEOUT_MS])
        cursor.execute("SELECT 1")
        cursor.fetchone()


def cache_round_trip() -> None:
    key = f"health:{os.getpid()}"
    cache.set(key, 1, timeout=10)
    if cache.get(key) != 1:
        raise RuntimeError("the cache did not keep a value")


def upload_storage() -> None:
    storage = storages["uploads"]
    if isinstance(storage, FileSystemStorage):
        # The storage makes its folder at the first upload, and a new server has none yet: what
        # must hold is that it may write in the folder, or make it in the nearest that exists.
        folder = Path(storage.location)
        while not folder.exists():
            folder = folder.parent
        if not (folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)):
            raise RuntimeError("the uploads folder can be neither written nor made")
        return
    try:
        storage.exists("health-check")
    except Exception as error:
        # A bucket that answers, even with "access denied" to a key the policy does not cover,
        # is reachable: only a failure to get an answer makes the site unready.
        if not getattr(error, "response", None):
            raise


def clamd() -> None:
    address = settings.CLAMD_ADDRESS
    if address.startswith("/"):
        family, target = socket.AF_UNIX, address
    else:
        host, _, port = address.rpartition(":")
        family, target = socket.AF_INET, (host, int(port))
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(settings.CLAMD_CONNECT_TIMEOUT)
        sock.connect(target)
        # clamd's own liveness command; z: the reply ends with a NUL byte.
        sock.sendall(b"zPING\0")
        if sock.recv(16).rstrip(b"\0\n") != b"PONG":
            raise RuntimeError("clamd did not answer PING")
