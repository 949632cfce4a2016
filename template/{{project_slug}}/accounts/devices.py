"""Signed-in sessions, and the devices they come from.

Every sign-in is recorded as a row of allauth.usersessions (the user, the client's address and
browser, the session key), whatever signed the user in: allauth's forms (the admin's login too),
or Django's login() itself (a test client, a shell), which allauth's own recording misses. The
user's sessions page, its "sign out everywhere else", and the incident commands
(security/management/commands/_incident.py) find a user's sessions through these rows, instead of
decoding every session in the database.

A sign-in from a device the account has not signed in from within NEW_DEVICE_MEMORY mails its
owner. A device is the browser's user agent and the client's network: its /24 for IPv4, its /64
for IPv6 (what one subscriber usually holds, as the lockout counts them). Known devices live in
the shared cache under keys made with SECRET_KEY, so neither the cache nor the mail holds the
address. An account's first sign-in after it was created mails nothing: it is not news to its
owner.
"""

import logging
import smtplib
from datetime import timedelta
from ipaddress import ip_address, ip_network

from allauth.account.adapter import get_adapter
from allauth.core.context import request_context
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import salted_hmac

from ..core.client_ip import client_ip
from ..core.events import log_event

# A sign-in with no client address (Django's login() outside a request, as the test client's
# force_login does) is recorded with the unspecified address: the row needs one.
NO_ADDRESS = "::"
NETWORK_PREFIX = {4: 24, 6: 64}
# How long after it was created an account's first sign-in is taken for its owner's.
NEW_ACCOUNT = timedelta(days=1)
# The mail names the browser and system in words, never the user agent itself: it is whatever
# the client sent, and a mail from the site must not carry an attacker's text (a link, a lure).
# The first match wins: Edge and Opera also say Chrome, Chrome also says Safari.
BROWSERS = [
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
]
SYSTEMS = [
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
]


def record_sign_in(request: HttpRequest, user) -> None:
    """Record the session user has just signed in with, and tell the owner when its device is
    new to the account. Called when a user signs in (signals.py), after Django gave the session
    its new key."""
    address = _address(request)
    user_agent = request.headers.get("user-agent", "")
    if not request.session.session_key:
        request.session.save()
    UserSession.objects.update_or_create(
        session_key=request.session.session_key,
        defaults={
            "user": user,
            "ip": address,
            "user_agent": user_agent[: UserSession._meta.get_field("user_agent").max_length],
            "last_seen_at": timezone.now(),
        },
    )
    # Without a client address the sign-in came from no device (Django's login() outside a
    # request); there is nothing to tell.
    if address == NO_ADDRESS or _remember_device(user, address, user_agent):
        return
    log_event("login.new_device", request, user_id=user.pk)
    _tell_owner(request, user, user_agent)


def sessions_of(user_ids) -> list[UserSession]:
    """The recorded sessions of these users."""
    return list(UserSession.objects.filter(user_id__in=list(user_ids)))


def end(sessions: list[UserSession]) -> int:
    """End these sessions (delete them from the session store, and their rows); return how many
    were still alive."""
    alive = 0
    for session in sessions:
        alive += session.exists()
        session.end()
    return alive


def describe(user_agent: str) -> str:
    """The browser and system a user agent names, in words: "Firefox on Linux"."""
    browser = next((name for mark, name in BROWSERS if mark in user_agent), "an unknown browser")
    system = next((name for mark, name in SYSTEMS if mark in user_agent), "an unknown system")
    return f"{browser} on {system}"


def network(address: str) -> str:
    """The network of address that counts as one place: its /24 (IPv4) or /64 (IPv6)."""
    parsed = ip_address(address)
    return str(ip_network(f"{parsed}/{NETWORK_PREFIX[parsed.version]}", strict=False))


def _address(request: HttpRequest) -> str:
    address = client_ip(request)
    try:
        return str(ip_address(address))
    except ValueError:
        return NO_ADDRESS


def _remember_device(user, address: str, user_agent: str) -> bool:
    """Remember this device for user; return whether it is one the owner knows about already:
    one the account signed in from within NEW_DEVICE_MEMORY, or the first since it was created."""
    memory = int(settings.NEW_DEVICE_MEMORY.total_seconds())
    device = salted_hmac(
        "new_device", f"{user.pk}\n{network(address)}\n{user_agent}", algorithm="sha256"
    ).hexdigest()[:32]
    account_key = f"devices:account:{user.pk}"
    known = not cache.add(f"devices:known:{device}", 1, timeout=memory)
    if known:
        cache.touch(f"devices:known:{device}", timeout=memory)
    had_devices = not cache.add(account_key, 1, timeout=memory)
    if had_devices:
        cache.touch(account_key, timeout=memory)
    # No device remembered for the account: a new account's first sign-in, or an account that
    # has not signed in for NEW_DEVICE_MEMORY (or whose record the cache lost), whose owner is
    # told, as an attacker may be the first to sign in after a long while.
    new_account = user.date_joined > timezone.now() - NEW_ACCOUNT
    return known or (not had_devices and new_account)


def _tell_owner(request: HttpRequest, user, user_agent: str) -> None:
    context = {"device": describe(user_agent), "when": timezone.now()}
    try:
        with request_context(request):
            get_adapter(request).send_mail("account/email/new_device", user.email, context)
    except (smtplib.SMTPException, OSError) as error:
        # The sign-in itself has succeeded; the log says who was not told.
        log_event(
            "login.new_device_not_told",
            request,
            level=logging.ERROR,
            user_id=user.pk,
            error=f"{type(error).__name__}: {error}"[:300],
        )
