"""Alerts: the security events that need a human, sent by mail to ADMINS and to a webhook.

AlertHandler sits on the security logger. An event in RULES raises an alert once it has happened
`threshold` times within `window` seconds (per client address, per account or per address typed
in, as the rule says; from settings for the rules production tunes); then the same rule and key
stay quiet for ALERT_QUIET_SECONDS, so an attack produces a handful of alerts, not thousands. The
counts live in the shared cache, so every app server adds to them.

Delivery never breaks the request that logged the event: a failure is logged as alert.failed and
the request goes on. Mail goes through Django's mail_admins to ADMINS (DJANGO_ADMINS); the webhook
(DJANGO_ALERT_WEBHOOK_URL) receives a JSON POST, {"text": ..., "event": ..., "details": {...}}, the
shape Slack, Mattermost and most chat tools accept.
"""

import json
import logging
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.mail import mail_admins

from ..core.counting import increment
from ..core.events import log_event

ALERT_QUIET_SECONDS = 60 * 60
# Seconds to connect, and for each read: the request that raised the alert waits for the webhook
# (chat services answer within a second), and must end well within gunicorn's 30-second timeout.
WEBHOOK_TIMEOUT_SECONDS = 5


@dataclass(frozen=True)
class Rule:
    summary: str
    # The field whose value keeps separate counts ("client_ip"), or None for one count site-wide.
    per: str | None = None
    threshold: int = 1
    window: int = 10 * 60
    applies: Callable[[dict[str, Any]], bool] = lambda details: True
    # The settings that hold the threshold and the window (a timedelta) instead, for a rule that
    # production tunes through its environment.
    tuned_by: tuple[str, str] | None = None

    def limits(self) -> tuple[int, int]:
        """The threshold, and the window in seconds."""
        if self.tuned_by is None:
            return self.threshold, self.window
        threshold, window = (getattr(settings, name) for name in self.tuned_by)
        return threshold, int(window.total_seconds())


RULES = {
    "login.locked_out": Rule(
        "Sign-in lockouts are piling up: password guessing or credential stuffing.", threshold=5
    ),
    "login.failed": Rule(
        "Failed sign-ins are piling up across the site: password spraying or credential stuffing.",
        tuned_by=("SECURITY_ALERT_FAILED_SIGN_INS", "SECURITY_ALERT_FAILED_SIGN_INS_WINDOW"),
    ),
    # Per address typed in, whether or not an account has it (accounts/account_guard.py).
    "login.account_under_attack": Rule(
        "One address is being guessed from many client addresses; user_id, when present, is "
        "its account, whose owner is mailed.",
        per="target",
    ),
    "account.superuser_created": Rule("A superuser account was created.", per="user_id"),
    "account.superuser_granted": Rule("An account was made superuser.", per="user_id"),
    "mfa.removed": Rule(
        "A second factor was removed from a staff account.",
        per="user_id",
        applies=lambda details: bool(details.get("staff")),
    ),
    "csrf.failed": Rule(
        "Repeated CSRF failures from one client address: forged requests against signed-in users.",
        per="client_ip",
        threshold=10,
    ),
    # The backups (backups/archive.py, docs/backups.md): every failure, and a check that finds
    # them too old, the last run failed or the upload bucket without versioning, is worth a
    # human at once.
    "backup.failed": Rule("A backup failed: the data since the last good one is at risk."),
    "backup.stale": Rule("The newest backup is too old, or there is none (check_backups)."),
    "backup.last_run_failed": Rule(
        "The last backup run failed, and none has succeeded since (check_backups)."
    ),
    "backup.unprotected": Rule("The upload bucket keeps no versions: deleted files are lost."),
}


class AlertHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        details = getattr(record, "security", None)
        rule = RULES.get(details.get("event", "")) if details else None
        if rule is None or not rule.applies(details):
            return
        try:
            if _due(details["event"], rule, details):
                _deliver(rule, details)
        except Exception as error:
            # Whatever went wrong (the cache, the mail server, the webhook), the request that
            # logged the event goes on; the failure is in the log, without the alert's details.
            log_event(
                "alert.failed",
                level=logging.ERROR,
                alert=details["event"],
                error=f"{type(error).__name__}: {error}"[:300],
            )


def _due(event: str, rule: Rule, details: dict[str, Any]) -> bool:
    """Count this event; True when the count reaches the threshold and the rule is not quiet."""
    key = f"alerts:{event}:{details.get(rule.per, '') if rule.per else 'site'}"
    threshold, window = rule.limits()
    if increment(key, timeout=window) < threshold:
        return False
    # The first to reach the threshold alerts; the others find the rule quiet.
    return cache.add(f"{key}:quiet", 1, timeout=ALERT_QUIET_SECONDS)


def _deliver(rule: Rule, details: dict[str, Any]) -> None:
    lines = [rule.summary, "", *(f"{name}: {value}" for name, value in details.items())]
    threshold, window = rule.limits()
    if threshold > 1:
        lines.insert(1, f"({threshold} times within {window // 60} minutes)")
    text = "\n".join(lines)
    if settings.ADMINS:
        mail_admins(f"Security alert: {details['event']}", text)
    if settings.SECURITY_ALERT_WEBHOOK_URL:
        post_webhook({"text": text, "event": details["event"], "details": details})


def post_webhook(payload: dict[str, Any]) -> None:
    """POST payload as JSON to SECURITY_ALERT_WEBHOOK_URL; raises when it is not accepted."""
    # An https URL: config/environment.py refuses any other scheme.
    request = urllib.request.Request(  # noqa: S310  # nosec B310
        settings.SECURITY_ALERT_WEBHOOK_URL,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    timeout = WEBHOOK_TIMEOUT_SECONDS
    with urllib.request.urlopen(request, timeout=timeout):  # noqa: S310  # nosec B310
        pass
