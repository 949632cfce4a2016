"""The project's own layer around every request: its id, and the headers Django does not set.

One middleware, first in MIDDLEWARE, because each layer costs every request (docs/performance.md):

- the request id (security/request_id.py), for the logs and the X-Request-ID response header;
- Permissions-Policy: every powerful browser feature is off for this site and for anything it
  frames, except those PERMISSIONS_POLICY allows;
- Cross-Origin-Resource-Policy: same-origin, so other sites cannot embed this site's responses;
- Reporting-Endpoints: where the browser sends Content Security Policy reports (the "csp" group
  that SECURE_CSP's report-to names; security/csp.py receives them).

The headers are the same for every response, so they are built once. For the same reason, the
Content Security Policy is sent by a subclass of Django's middleware that builds it once.
"""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware import csp
from django.urls import reverse
from django.utils.csp import CSP, build_policy

from .request_id import current_request, request_id


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.headers: dict[str, str] | None = None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.request_id = request_id(request)
        serving = current_request.set(request)
        try:
            response = self.get_response(request)
        finally:
            current_request.reset(serving)
        response["X-Request-ID"] = request.request_id
        for name, value in (self.headers or self.build_headers()).items():
            response.headers.setdefault(name, value)
        return response

    def build_headers(self) -> dict[str, str]:
        # Built at the first response, once the URLconf can be read.
        self.headers = {
            "Permissions-Policy": ", ".join(
                f"{feature}=({' '.join(allowed)})"
                for feature, allowed in settings.PERMISSIONS_POLICY.items()
            ),
            "Cross-Origin-Resource-Policy": "same-origin",
            "Reporting-Endpoints": f'csp="{reverse("csp_report")}"',
        }
        return self.headers


class ContentSecurityPolicyMiddleware(csp.ContentSecurityPolicyMiddleware):
    """Django's CSP middleware, with each policy built once for the responses that use no nonce,
    most of them; Django builds it again for every response. A response that used the nonce, or
    whose view set its own policy, goes through Django's code unchanged."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        super().__init__(get_response)
        self.policies = [
            (str(header), build_policy(config) if config else "")
            for header, config in [
                (CSP.HEADER_ENFORCE, settings.SECURE_CSP),
                (CSP.HEADER_REPORT_ONLY, settings.SECURE_CSP_REPORT_ONLY),
            ]
        ]

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        own_policy = hasattr(response, "_csp_config") or hasattr(response, "_csp_ro_config")
        if csp.get_nonce(request) or own_policy:
            return super().process_response(request, response)
        for header, policy in self.policies:
            if policy and header not in response:
                response.headers[header] = policy
        return response
