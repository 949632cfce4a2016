"""The security app's views: the CSRF failure page and security.txt."""

import logging
from datetime import timedelta

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from ..core.events import log_event

# RFC 9116 asks for an Expires field less than a year ahead, so that a forgotten file goes stale.
# It is computed, because the contact comes from the settings that deploy with the code.
SECURITY_TXT_LIFETIME = timedelta(days=180)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: a plain 403 page, and the failure in the security log (repeated
    failures from one client address raise an alert, security/alerts.py)."""
    log_event("csrf.failed", request, level=logging.WARNING, reason=reason)
    return render(request, "security/csrf_failure.html", status=403)


@require_GET
def security_txt(request: HttpRequest) -> HttpResponse:
    """/.well-known/security.txt (RFC 9116): where to report a vulnerability."""
    expires = (timezone.now() + SECURITY_TXT_LIFETIME).replace(microsecond=0)
    origin = f"https://{settings.SITE_DOMAIN}"
    lines = [
        f"Contact: mailto:{settings.SECURITY_CONTACT}",
        f"Expires: {expires.strftime('%Y-%m-%dT%H:%M:%SZ')}",
        "Preferred-Languages: en",
        f"Canonical: {origin}/.well-known/security.txt",
        f"Policy: {origin}/.well-known/security-policy.txt",
    ]
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; charset=utf-8")


@require_GET
def security_policy(request: HttpRequest) -> HttpResponse:
    """The project's SECURITY.md, the policy security.txt points to."""
    policy = (settings.BASE_DIR / "SECURITY.md").read_text(encoding="utf-8")
    return HttpResponse(policy, content_type="text/plain; charset=utf-8")
