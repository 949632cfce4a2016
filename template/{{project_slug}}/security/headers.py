"""The project's own layer around every request: its id, and the headers Django's other
middleware does not set.

One middleware, first in MIDDLEWARE, because each layer and each step costs every request (when
measured, Django's CSP middleware building the policy again for every response cost 22
microseconds a request, and a request id read through request.headers, which parses every
header, 23):

- the request id (core/request_id.py), for the logs and the X-Request-ID response header;
- the Content Security Policy: this class is Django's CSP middleware, so the nonce and the
  policy are Django's; each policy is built once for the responses that use no nonce, most of
  them, where Django builds it again for every response;
- Permissions-Policy: every powerful browser feature is off for this site and for anything it
  frames, except those PERMISSIONS_POLICY allows;
- Cross-Origin-Resource-Policy: same-origin, so other sites cannot embed this site's responses;
- Reporting-Endpoints: where the browser sends Content Security Policy reports (the "csp" group
  that SECURE_CSP's report-to names; security/csp.py receives them).

A header the view has already set is left as the view set it; X-Request-ID is always this one.
"""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware import csp
from django.urls import reverse
from django.utils.csp import CSP, build_policy

from ..core.request_id import current_request, request_id

Headers = list[tuple[str, str]]


class SecurityHeadersMiddleware(csp.ContentSecurityPolicyMiddleware):
    # Synchronous, like the project's WSGI server; under ASGI, Django adapts the layer.
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        super().__init__(get_response)
        # (the Content Security Policy headers, the others); built at the first response.
        self.fixed_headers: tuple[Headers, Headers] | None = None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.request_id = request_id(request)
        self.process_request(request)  # Django's: the request's nonce, made if a page uses it
        serving = current_request.set(request)
        try:
            response = self.get_response(request)
        finally:
            current_request.reset(serving)
        policies, headers = self.fixed_headers or self.build_headers()
        # What Django's process_response reads: the nonce, and the policies csp_override and
        # csp_report_only_override put on the response. Recheck on each Django upgrade.
        own_policy = hasattr(response, "_csp_config") or hasattr(response, "_csp_ro_config")
        if csp.get_nonce(request) or own_policy:
            # Django's code: the policy with this response's nonce, or the view's own policy.
            response = self.process_response(request, response)
            policies = []
        response.headers["X-Request-ID"] = request.request_id
        for name, value in policies + headers:
            response.headers.setdefault(name, value)  # unless the view set it
        return response

    def build_headers(self) -> tuple[Headers, Headers]:
        # At the first response, once the URLconf can be read.
        policies = [
            (str(header), build_policy(config))
            for header, config in [
                (CSP.HEADER_ENFORCE, settings.SECURE_CSP),
                (CSP.HEADER_REPORT_ONLY, settings.SECURE_CSP_REPORT_ONLY),
            ]
            if config
        ]
        headers = [
            (
                "Permissions-Policy",
                ", ".join(
                    f"{feature}=({' '.join(allowed)})"
                    for feature, allowed in settings.PERMISSIONS_POLICY.items()
                ),
            ),
            ("Cross-Origin-Resource-Policy", "same-origin"),
            ("Reporting-Endpoints", f'csp="{reverse("csp_report")}"'),
        ]
        self.fixed_headers = (policies, headers)
        return self.fixed_headers
