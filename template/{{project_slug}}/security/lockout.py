"""Lockout after repeated failed sign-ins: django-axes, with what this project adds to it.

django-axes records each failed password check in the database (AccessAttempt, AccessFailureLog)
and, once the limit is reached, refuses further attempts before the password is checked. Its
authentication backend comes first in AUTHENTICATION_BACKENDS, so the site's login, the admin's
(which is the same login), reauthentication and the change-password form all go through it. This
module adds:

- Two thresholds. AXES_FAILURE_LIMIT failures for one address from one client address lock that
  pair, so an attacker elsewhere cannot lock the owner out. LOGIN_IP_FAILURE_LIMIT failures from
  one client address, whatever the account, lock that address: credential stuffing tries many
  accounts a few times each. An IPv6 client counts as its /64, which one subscriber usually holds
  whole: otherwise every address of it would be a fresh client.
- A limit that holds under concurrency. axes counts a failure after the password was checked, so
  requests that arrive together all pass its check before any of them is counted. Here each
  attempt first takes a place in the shared cache, and is refused when the failures recorded plus
  the attempts in flight would pass a limit. The place is given back when the request ends, after
  its failure, if any, was recorded: at most the limit of attempts ever reaches the password
  hasher. Places are counted in two-minute periods that expire on their own, so a place that a
  killed worker never gave back is forgotten within four minutes.
- The failures counted for the account guard (accounts/account_guard.py): many client addresses
  guessing one account, a few guesses each, put it under attack rather than lock it.
- The address compared as allauth looks it up (case-insensitively), events in the security log, and
  a 429 page that says when to retry and nothing about whether the account exists.
"""

import hashlib
import logging
import math
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from ipaddress import IPv6Address, IPv6Network, ip_address

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models import Max, Q, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from ..accounts import account_guard
from ..core.client_ip import client_ip
from ..core.counting import increment
from ..core.events import log_event

# Places in flight are counted per period of PLACE_PERIOD seconds, in keys that live two periods:
# an attempt counts the places of the current and the previous period, and gives its place back to
# the period it took it in. No request runs longer than a period (gunicorn kills a worker after its
# 30-second timeout), so a live place is always counted.
PLACE_PERIOD = 120
# An attempt refused only because others for the same account are in flight may retry this soon.
BUSY_RETRY_SECONDS = 5
# The longest address there is (RFC 5321); axes stores what is typed in 255 characters.
LONGEST_ADDRESS = 254


def attempted_login(request: HttpRequest | None, credentials: dict | None) -> str | None:
    """AXES_USERNAME_CALLABLE: the address as allauth looks it up, case-insensitively, so that
    Owner@Example.com and owner@example.com count against one limit."""
    credentials = credentials or {}
    login = credentials.get("email") or credentials.get("username")
    if login is None and request is not None:
        login = request.POST.get("login")
    if not isinstance(login, str) or not login.strip():
        return None
    return login.strip().lower()[:LONGEST_ADDRESS]


def lockout_address(request: HttpRequest) -> str:
    """AXES_CLIENT_IP_CALLABLE: the client's address (core/client_ip.py), an IPv6 address as
    the network address of its /64."""
    address = client_ip(request)
    try:
        parsed = ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, IPv6Address):
        return str(IPv6Network(f"{parsed}/64", strict=False).network_address)
    return address


class LockoutHandler(AxesDatabaseHandler):
    """AXES_HANDLER: axes' database handler, with the per-IP threshold and the places in flight."""

    def is_allowed(self, request: HttpRequest, credentials: dict | None = None) -> bool:
        return super().is_allowed(request, credentials) and self._take_places(request, credentials)

    def is_locked(self, request: HttpRequest, credentials: dict | None = None) -> bool:
        return any(
            failures >= limit
            for failures, limit in zip(
                self._recent_failures(request, credentials), _limits(), strict=True
            )
        )

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs) -> None:
        if request is None:
            return super().user_login_failed(sender, credentials, request, **kwargs)
        if getattr(request, "login_busy", False):
            # Refused because other attempts for this account were in flight: not a lockout,
            # nothing to record.
            log_event("login.refused_busy", request, level=logging.WARNING)
            return None
        refused = request.axes_locked_out
        super().user_login_failed(sender, credentials, request, **kwargs)
        if refused:
            # Refused before the password was checked; axes records nothing, so the lockout ends
            # on time however long the attacker keeps trying.
            log_event("login.refused_locked_out", request, level=logging.WARNING)
            return
        login = get_client_username(request, credentials)
        user_id = _account_id(login)
        log_event("login.failed", request, level=logging.WARNING, user_id=user_id)
        if login:
            account_guard.count_failure(request, login, user_id)
        if not request.axes_locked_out and self.is_locked(request, credentials):
            # The per-IP threshold; axes itself locks on the address and IP pair only.
            request.axes_locked_out = True
            request.axes_credentials = credentials
            user_locked_out.send(
                "axes",
                request=request,
                username=get_client_username(request, credentials),
                ip_address=request.axes_ip_address,
            )
        if request.axes_locked_out:
            log_event("login.locked_out", request, level=logging.WARNING)

    def user_logged_in(self, sender, request, user, **kwargs) -> None:
        super().user_logged_in(sender, request, user, **kwargs)
        log_event("login.succeeded", request, user_id=user.pk)

    def _recent_failures(self, request: HttpRequest, credentials: dict | None) -> list[int]:
        """Failures within the cool-off time: for the address and IP pair, and for the IP."""
        totals = _recent_attempts(request).aggregate(
            pair=Sum(
                "failures_since_start",
                filter=Q(username=get_client_username(request, credentials)),
            ),
            ip=Sum("failures_since_start"),
        )
        return [totals["pair"] or 0, totals["ip"] or 0]

    def _take_places(self, request: HttpRequest, credentials: dict | None) -> bool:
        """Take a place for this attempt under each threshold; give them back and refuse if the
        failures recorded plus the attempts in flight would pass either limit."""
        places = getattr(request, "login_places", None)
        if places is None:
            raise RuntimeError(
                "LoginPlacesMiddleware is not in MIDDLEWARE: sign-in attempts would not give "
                "back their place, and would lock out everyone in turn."
            )
        username = get_client_username(request, credentials) or ""
        client = request.axes_ip_address
        period = int(time.time()) // PLACE_PERIOD
        counters = [_place_key("pair", f"{username}\n{client}"), _place_key("ip", client)]
        # The places are counted before the failures are read: an attempt that finishes in
        # between is then counted twice, never not at all.
        in_flight = [_take(counter, period) for counter in counters]
        failures = self._recent_failures(request, credentials)
        taken = [f"{counter}:{period}" for counter in counters]
        if any(
            recorded + flying > limit
            for recorded, flying, limit in zip(failures, in_flight, _limits(), strict=True)
        ):
            _give_back(taken)
            # Locked if the recorded failures alone reach a limit; otherwise only busy.
            request.login_busy = not any(
                recorded >= limit for recorded, limit in zip(failures, _limits(), strict=True)
            )
            return False
        places.extend(taken)
        return True


class LoginPlacesMiddleware:
    """Gives back, when the request ends, the places its sign-in attempts took (LockoutHandler).

    The failure of an attempt is recorded inside the view, so a place given back here is never
    given back before its failure is counted."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.login_places = []
        try:
            return self.get_response(request)
        finally:
            _give_back(request.login_places)


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: 429 with a page saying when to try again. The same page whether or
    not an account has the address, and no address on it."""
    if getattr(request, "login_busy", False):
        retry_at = timezone.now() + timedelta(seconds=BUSY_RETRY_SECONDS)
    else:
        retry_at = _locked_until(request)
    seconds = max(1, math.ceil((retry_at - timezone.now()).total_seconds()))
    context = {
        "busy": getattr(request, "login_busy", False),
        "retry_at": retry_at,
        "minutes": math.ceil(seconds / 60),
    }
    response = render(request, "security/locked_out.html", context, status=429)
    response["Retry-After"] = str(seconds)
    return response


def _limits() -> list[int]:
    return [settings.AXES_FAILURE_LIMIT, settings.LOGIN_IP_FAILURE_LIMIT]


def _recent_attempts(request: HttpRequest):
    cool_off: timedelta = get_cool_off(request)
    return AccessAttempt.objects.filter(
        ip_address=request.axes_ip_address,
        attempt_time__gte=timezone.now() - cool_off,
    )


def _locked_until(request: HttpRequest) -> datetime:
    """When the failures that lock this client end their cool-off time: at the latest, the last
    failure from its IP plus the cool-off time."""
    last_failure = _recent_attempts(request).aggregate(last=Max("attempt_time"))["last"]
    return (last_failure or timezone.now()) + get_cool_off(request)


def _account_id(login: str | None) -> int | None:
    """The id of the account with this address (primary or not, or the account's own address
    when allauth has no record of it, as for an account made in the admin), for the security log:
    logs are kept longer and by more people than the database's AccessAttempt rows, so they name
    accounts by id and hold no address."""
    if not login:
        return None
    # Both are stored in lower case, as attempted_login gives them: index lookups, in one query.
    return (
        get_user_model()
        .objects.filter(Q(email=login) | Q(emailaddress__email=login))
        .values_list("pk", flat=True)
        .first()
    )


def _place_key(kind: str, value: str) -> str:
    digest = hashlib.sha256(value.encode()).hexdigest()
    return f"lockout:in-flight:{kind}:{digest}"


def _take(counter: str, period: int) -> int:
    """Take a place under counter in this period; return the places in flight, this one
    included: this period's and the previous one's."""
    taken = increment(f"{counter}:{period}", timeout=2 * PLACE_PERIOD)
    return taken + (cache.get(f"{counter}:{period - 1}") or 0)


def _give_back(keys: list[str]) -> None:
    """Give back each place; one that cannot be given back (its key expired, the cache is down)
    is forgotten when its period ends, and must not stop the others or fail the request."""
    for key in keys:
        try:
            cache.decr(key)
        except ValueError:
            pass  # expired, and its count with it
        except Exception as error:
            log_event(
                "lockout.place_not_given_back",
                level=logging.ERROR,
                error=f"{type(error).__name__}: {error}"[:300],
            )
