"""The endpoint that receives Content Security Policy violation reports.

Browsers POST them here: as application/csp-report for the policy's report-uri, and as
application/reports+json (the Reporting API) for its report-to. Anything else is refused, a body
over REPORT_MAX_BYTES is refused unread, and each client address may send REPORTS_PER_MINUTE. A
violation is logged as csp.violation once per REPORT_WINDOW for the same page, directive and
blocked source, so one broken page cannot flood the log. A report is one line at most, however
many violations it holds (the Reporting API sends them in batches, and 16 KiB holds over a
hundred): its first VIOLATIONS_READ are read, and the line names up to VIOLATIONS_LOGGED of those
not logged yet, with the report's count. Only the page's path and the blocked source's origin are
logged: reports carry full URLs, whose query strings may hold tokens.
"""

import json
import logging
from urllib.parse import urlsplit

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ..core.client_ip import client_ip
from ..core.counting import increment
from ..core.events import log_event

REPORT_TYPES = {"application/csp-report", "application/reports+json"}
REPORT_MAX_BYTES = 16 * 1024
REPORTS_PER_MINUTE = 30
REPORT_WINDOW = 10 * 60
VIOLATIONS_READ = 20
VIOLATIONS_LOGGED = 5


@csrf_exempt  # Browsers send reports without a CSRF token; the view changes nothing.
@require_POST
def csp_report(request: HttpRequest) -> HttpResponse:
    if request.content_type not in REPORT_TYPES:
        return HttpResponse(status=415)
    try:
        length = int(request.headers.get("content-length") or 0)
    except ValueError:
        length = REPORT_MAX_BYTES + 1
    if length > REPORT_MAX_BYTES:
        return HttpResponse(status=413)
    if not _within_rate(client_ip(request)):
        return HttpResponse(status=429)
    body = request.read(REPORT_MAX_BYTES + 1)
    if len(body) > REPORT_MAX_BYTES:
        return HttpResponse(status=413)
    try:
        violations = _violations(request.content_type, json.loads(body))
        read = [_summary(violation) for violation in violations[:VIOLATIONS_READ]]
    except (ValueError, TypeError, KeyError, AttributeError):
        return HttpResponse(status=400)
    new = _not_logged_yet(read)
    if new:
        (page, directive, blocked), *others = new[:VIOLATIONS_LOGGED]
        fields = {"page": page, "directive": directive, "blocked": blocked}
        if len(violations) > 1:
            fields["violations"] = len(violations)
        if others:
            fields["others"] = [" ".join(filter(None, other)) for other in others]
        log_event("csp.violation", request, level=logging.WARNING, **fields)
    return HttpResponse(status=204)


def _within_rate(address: str) -> bool:
    return increment(f"csp-reports:{address}", timeout=60) <= REPORTS_PER_MINUTE


def _violations(content_type: str, data) -> list[dict]:
    """The reports' bodies, with the Reporting API's names (documentURL, effectiveDirective,
    blockedURL)."""
    if content_type == "application/csp-report":
        report = data["csp-report"]
        return [
            {
                "documentURL": report.get("document-uri", ""),
                "effectiveDirective": report.get("effective-directive")
                or report.get("violated-directive", ""),
                "blockedURL": report.get("blocked-uri", ""),
            }
        ]
    return [entry["body"] for entry in data if entry.get("type") == "csp-violation"]


def _summary(violation: dict) -> tuple[str, str, str]:
    """The page's path, the directive, and the blocked source without path or query."""
    page = urlsplit(str(violation.get("documentURL", ""))).path[:200]
    directive = str(violation.get("effectiveDirective", ""))[:50]
    return page, directive, _source(str(violation.get("blockedURL", "")))


def _not_logged_yet(violations: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """The distinct violations not logged within REPORT_WINDOW, now marked as logged."""
    return [
        violation
        for violation in dict.fromkeys(violations)
        if cache.add(f"csp-violation:{':'.join(violation)}", 1, timeout=REPORT_WINDOW)
    ]


def _source(blocked: str) -> str:
    """The blocked source without path or query: "inline", "eval", or an origin."""
    parts = urlsplit(blocked)
    if parts.scheme in {"http", "https", "ws", "wss"} and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"[:200]
    return (parts.scheme or blocked)[:50]
