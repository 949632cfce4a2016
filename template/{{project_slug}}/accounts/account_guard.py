"""One account guessed from many client addresses: the account is put under attack.

The lockout (security/lockout.py) gives each client address a few guesses per account, so a
botnet with many addresses still guesses one account slowly. Locking the account for everyone
would let anyone lock its owner out. Instead, once an address has had LOGIN_ACCOUNT_FAILURE_LIMIT
failed password checks within LOGIN_ACCOUNT_FAILURE_WINDOW, from any client addresses, it is
under attack until a whole window passes without a failure:

- with LOGIN_ACCOUNT_UNDER_ATTACK = "code", the password alone no longer signs the account in:
  allauth's login-by-code stage asks for a code mailed to the account's address, unless the
  account has a second factor, which allauth asks for anyway (accounts/adapters.py);
- the security log records login.account_under_attack, which alerts the admins
  (security/alerts.py), and the owner is mailed.

An address with no account is counted, logged and alerted on exactly like one with an account, so
that the attacker's answers, and the time they take, do not tell which addresses have an account.
The owner's mail is the only difference, and it is sent after the response has gone.
The counts live in the shared cache (core/counting.py), so every app server adds to them.
"""

import logging
from collections.abc import Callable
from contextvars import ContextVar

from allauth.account.adapter import get_adapter
from allauth.account.models import EmailAddress
from allauth.core.context import request_context
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils.crypto import salted_hmac

from ..core.counting import increment
from ..core.events import log_event

# Work left for when the response of the request being served has been sent.
after_response: ContextVar[list[Callable[[], None]] | None] = ContextVar(
    "after_response", default=None
)


def address_key(login: str) -> str:
    """The address typed in (as the lockout normalises it), keyed with SECRET_KEY: it names the
    address in the cache and the security log, which never hold the address itself."""
    return salted_hmac("account_guard", login, algorithm="sha256").hexdigest()[:32]


def count_failure(request: HttpRequest, login: str, user_id: int | None) -> None:
    """Count a failed password check for login; put it under attack at the limit."""
    key = address_key(login)
    window = int(settings.LOGIN_ACCOUNT_FAILURE_WINDOW.total_seconds())
    failures = increment(f"account-guard:failures:{key}", timeout=window)
    flag = f"account-guard:under-attack:{key}"
    # Under attack already: every failure keeps it so for another window, whatever this window's
    # count (a count lives one window from its first failure, so a slow attacker's count starts
    # again at one while the account is still under attack). It ends when a whole window passes
    # without a failure.
    if cache.touch(flag, timeout=window):
        return
    if failures < settings.LOGIN_ACCOUNT_FAILURE_LIMIT or not cache.add(flag, 1, timeout=window):
        return
    log_event(
        "login.account_under_attack",
        request,
        level=logging.WARNING,
        user_id=user_id,
        target=key,
        failures=failures,
    )
    if user_id is not None:
        _after_response(lambda: _tell_owner(request, user_id))


def under_attack(user) -> bool:
    """Whether any address of user is under attack."""
    keys = [f"account-guard:under-attack:{address_key(login)}" for login in _addresses(user)]
    return bool(cache.get_many(keys))


def code_required(user) -> bool:
    """Whether signing user in with a password also needs a code mailed to them."""
    return settings.LOGIN_ACCOUNT_UNDER_ATTACK == "code" and under_attack(user)


def code_address(user, typed: str | None) -> str:
    """Where the code goes: the address typed in if it is a verified one of the account, else its
    verified addresses, primary first; an account with none verified gets it at its own address,
    where a password reset would go too. Receiving the code verifies the address."""
    verified = list(
        EmailAddress.objects.filter(user=user, verified=True)
        .order_by("-primary", "pk")
        .values_list("email", flat=True)
    )
    if typed and typed.lower() in verified:
        return typed.lower()
    return verified[0] if verified else user.email


def _addresses(user) -> set[str]:
    addresses = set(EmailAddress.objects.filter(user=user).values_list("email", flat=True))
    return {address.lower() for address in addresses | {user.email}}


def _tell_owner(request: HttpRequest, user_id: int) -> None:
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return
    context = {
        "code_required": settings.LOGIN_ACCOUNT_UNDER_ATTACK == "code",
        "failures": settings.LOGIN_ACCOUNT_FAILURE_LIMIT,
        "hours": round(settings.LOGIN_ACCOUNT_FAILURE_WINDOW.total_seconds() / 3600),
    }
    # allauth's mail reads the site's name from the request being served, which has ended.
    with request_context(request):
        get_adapter(request).send_mail(
            "security/email/account_under_attack", code_address(user, None), context
        )


def _after_response(task: Callable[[], None]) -> None:
    pending = after_response.get()
    if pending is None:
        pending = []
        after_response.set(pending)
    pending.append(task)


@receiver(request_finished)
def run_after_response(sender, **kwargs) -> None:
    """Run the work left by the request whose response was just sent. Django sends
    request_finished when the server closes the response, once the client has it all: the
    owner's mail then costs the attacker's request no time."""
    pending = after_response.get()
    if not pending:
        return
    after_response.set(None)
    for task in pending:
        try:
            task()
        except Exception as error:
            # The response has gone: nobody but the log can be told.
            log_event(
                "login.owner_not_told",
                level=logging.ERROR,
                error=f"{type(error).__name__}: {error}"[:300],
            )
