"""Password validators beyond Django's, for NIST SP 800-63B-4: passphrases of up to 256 characters
accepted; guessable passwords refused offline (zxcvbn), breached ones through Pwned Passwords."""

import hashlib
import http.client
import logging
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.debug import sensitive_variables
from zxcvbn_rs_py import zxcvbn

from ..core.events import log_event


class MaximumLengthValidator:
    """Refuse absurdly long passwords, while allowing the passphrases NIST SP 800-63B-4 asks
    verifiers to accept (at least 64 characters)."""

    def __init__(self, max_length: int = 256) -> None:
        if max_length < 64:
            raise ValueError("NIST SP 800-63B-4 requires accepting passwords of 64 characters.")
        self.max_length = max_length

    def validate(self, password: str, user=None) -> None:
        if len(password) > self.max_length:
            raise ValidationError(
                ngettext(
                    "This password is too long. It must contain at most %(max_length)d character.",
                    "This password is too long. It must contain at most %(max_length)d characters.",
                    self.max_length,
                ),
                code="password_too_long",
                params={"max_length": self.max_length},
            )

    def get_help_text(self) -> str:
        return ngettext(
            "Your password can be up to %(max_length)d character long.",
            "Your password can be up to %(max_length)d characters long.",
            self.max_length,
        ) % {"max_length": self.max_length}


class GuessablePasswordValidator:
    """Refuse passwords that an attacker's guessing would reach early, by zxcvbn's estimate of the
    guesses needed: repeats ("aaaa", "passwordpassword"), sequences ("abcdef", "34567"), rows of
    keys ("qwertyuiop"), common passwords, words and names, with digits, dates or leetspeak around
    them ("P@ssw0rd1234"), and the site's and the user's own words (site_words and the user's
    attributes), which zxcvbn ranks first of all its dictionaries.

    min_score is zxcvbn's score, from 0 to 4: 3 means at least 10^8 guesses. Offline and fast
    (10 ms at most, whatever the length), so it runs on every password, whatever the network.
    """

    def __init__(
        self,
        min_score: int = 3,
        site_words: Sequence[str] = (),
        user_attributes: Sequence[str] = ("email", "name"),
    ) -> None:
        if not 1 <= min_score <= 4:
            raise ValueError("min_score is a zxcvbn score that refuses something: 1 to 4.")
        self.min_score = min_score
        self.site_words = words_in(site_words)
        self.user_attributes = user_attributes

    @sensitive_variables()
    def validate(self, password: str, user=None) -> None:
        user_values = (getattr(user, name, None) or "" for name in self.user_attributes)
        estimate = zxcvbn(password, [*self.site_words, *words_in(user_values)])
        if int(estimate.score) >= self.min_score:
            return
        warning = estimate.feedback.warning if estimate.feedback else None
        if warning is None:
            raise ValidationError(
                _("This password is too easy to guess."), code="password_too_guessable"
            )
        # zxcvbn's own words, in English only: what made this password easy to guess.
        raise ValidationError(
            _("This password is too easy to guess. %(reason)s"),
            code="password_too_guessable",
            params={"reason": str(warning)},
        )

    def get_help_text(self) -> str:
        return _(
            "Your password must not be easy to guess: no repeats, sequences or rows of keys, no "
            "common word or name with a few digits or symbols, and not the name of this site."
        )


def words_in(values: Iterable[str]) -> list[str]:
    """Each value in lowercase, each side of an "@", their words of three letters or more, and
    their words run together: "My Site" gives "my site", "site" and "mysite"; an email address
    gives the address, its local part and domain, and the words of each."""
    words: list[str] = []
    for value in values:
        value = str(value).strip().lower()
        texts = [value, *value.split("@")] if "@" in value else [value]
        for text in texts:
            parts = [part for part in re.split(r"[\W_]+", text) if part]
            long_parts = [part for part in parts if len(part) >= 3]
            for word in (text, *long_parts, "".join(parts)):
                if word and word not in words:
                    words.append(word)
    return words


class BreachUnavailable(Exception):
    """The breach service gave no usable answer; the argument is why, as a short stable name."""


class BreachedPasswordValidator:
    """Refuse passwords known from data breaches: Have I Been Pwned's Pwned Passwords, through its
    range API (PWNED_PASSWORDS_API_URL) with k-anonymity. Only the first 5 hex digits of the
    password's SHA-1 leave the server; the answer lists every breached suffix with that prefix,
    padded with decoys of count 0 (Add-Padding) so that its size tells an onlooker nothing.

    Fails open: when the service answers nothing usable within PWNED_PASSWORDS_TIMEOUT, the
    password is judged by the other validators alone, and password.breach_check_unavailable is
    logged with the reason (docs/security.md says why open, not closed).
    """

    @sensitive_variables()
    def validate(self, password: str, user=None) -> None:
        digest = hashlib.sha1(password.encode(), usedforsecurity=False).hexdigest().upper()
        prefix, suffix = digest[:5], digest[5:]
        try:
            breached = breached_suffixes(prefix)
        except BreachUnavailable as error:
            log_event(
                "password.breach_check_unavailable", level=logging.WARNING, reason=error.args[0]
            )
            return
        if breached.get(suffix, 0) > 0:
            raise ValidationError(
                _(
                    "This password has appeared in a data breach, so attackers try it early. "
                    "Choose another."
                ),
                code="password_breached",
            )

    def get_help_text(self) -> str:
        return _("Your password must not be one that has appeared in a data breach.")


# An answer holds about a thousand lines of 40 bytes; anything far larger is not the range API.
MAX_ANSWER_BYTES = 1024 * 1024
ANSWER_LINE = re.compile(r"([0-9A-F]{35}):([0-9][0-9,]*)")


class RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """The range API answers directly; a redirect is an error, not somewhere else to send the
    prefix."""

    def redirect_request(self, *args, **kwargs) -> None:
        return None


opener = urllib.request.build_opener(RefuseRedirects)


def breached_suffixes(prefix: str) -> dict[str, int]:
    """How many times each SHA-1 suffix under prefix was seen in breaches, by the range API.

    Connecting, and each read, waits at most PWNED_PASSWORDS_TIMEOUT seconds, and the whole
    answer must have arrived by then too; a server that trickles bytes is given up on.
    """
    timeout = settings.PWNED_PASSWORDS_TIMEOUT
    # The URL comes from settings, not from a user: https in production, a local stand-in in tests.
    request = urllib.request.Request(  # noqa: S310  # nosec B310
        f"{settings.PWNED_PASSWORDS_API_URL}{prefix}",
        headers={"Add-Padding": "true", "User-Agent": "django-password-breach-check"},
    )
    try:
        with opener.open(request, timeout=timeout) as response:
            deadline = time.monotonic() + timeout
            body = b""
            while chunk := response.read1(64 * 1024):
                body += chunk
                if len(body) > MAX_ANSWER_BYTES:
                    raise BreachUnavailable("answer_too_large")
                if time.monotonic() > deadline:
                    raise BreachUnavailable("timeout")
    except urllib.error.HTTPError as error:
        raise BreachUnavailable(f"http_{error.code}") from None
    except urllib.error.URLError as error:
        raise BreachUnavailable(failure_name(error.reason)) from None
    except (OSError, http.client.HTTPException) as error:
        raise BreachUnavailable(failure_name(error)) from None
    return parse_answer(body)


def failure_name(error: object) -> str:
    if isinstance(error, TimeoutError):
        return "timeout"
    if isinstance(error, ConnectionRefusedError):
        return "connection_refused"
    return type(error).__name__ if isinstance(error, BaseException) else "unreachable"


def parse_answer(body: bytes) -> dict[str, int]:
    """SUFFIX:COUNT lines, all of them, or the answer is not the range API's (a proxy's error
    page, a captive portal) and counts as no answer."""
    try:
        lines = body.decode("ascii").splitlines()
    except UnicodeDecodeError:
        raise BreachUnavailable("malformed_answer") from None
    matches = [ANSWER_LINE.fullmatch(line.strip()) for line in lines if line.strip()]
    if not matches or not all(matches):
        raise BreachUnavailable("malformed_answer")
    return {match[1]: int(match[2].replace(",", "")) for match in matches}
