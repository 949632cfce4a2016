"""The response headers Django's own middleware does not set.

- Permissions-Policy: every powerful browser feature is off for this site and for anything it
  frames, except those PERMISSIONS_POLICY allows.
- Cross-Origin-Resource-Policy: same-origin, so other sites cannot embed this site's responses.
- Reporting-Endpoints: where the browser sends Content Security Policy reports (the "csp" group that
  SECURE_CSP's report-to names; security/csp.py receives them).
"""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import reverse


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.permissions_policy = ", ".join(
            f"{feature}=({' '.join(allowed)})"
            for feature, allowed in settings.PERMISSIONS_POLICY.items()
        )

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", self.permissions_policy)
        response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        response.headers.setdefault("Reporting-Endpoints", f'csp="{reverse("csp_report")}"')
        return response
