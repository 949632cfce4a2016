"""The deployed site, checked from outside as a scanner sees it (manage.py check_live).

Every expected value is read from the settings that deploy with the code (base.py, prod.py), so
the check follows the project when a setting changes; the proxy configuration (DEPLOY_PROXY_CONFIG)
is expected to answer as strictly as Django does. The checks only read: a handful of GET requests
and TLS handshakes, each bounded by REQUEST_TIMEOUT and READ_LIMIT, and one oversized POST when
the caller asks for it.

A check that falls short becomes a Shortfall: what was seen, and the file or setting that fixes it.
"""

import http.client
import io
import re
import secrets
import select
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

from django.conf import settings
from django.shortcuts import resolve_url
from django.urls import reverse

# Seconds to connect and for each read: a site that takes longer is reported, not waited on.
REQUEST_TIMEOUT = 10
# The most of a body read: pages are small, and a check never needs a whole download.
READ_LIMIT = 1024 * 1024
# Let's Encrypt's certificates last 90 days and certbot renews them 30 days before they end: a
# certificate with less left than this has missed its renewals.
CERTIFICATE_MIN_DAYS = 14
# Less than this left before security.txt's Expires, and the file is reported as going stale.
SECURITY_TXT_MIN_DAYS = 14
# Answers that name a version or a framework a scanner looks up in its list of known flaws.
VERSION = re.compile(r"\d+\.\d+")
# What Django's debug pages say, and a traceback: never shown by a production site.
DEBUG_MARKS = ("Using the URLconf defined in", "DEBUG = True", "Traceback (most recent call last)")
NONCE_ATTRIBUTE = re.compile(r"""<(?:script|style)[^>]*\snonce=["']?([^"' >]+)""", re.I)
NONCE_SOURCE = re.compile(r"'nonce-([^']+)'")
STYLESHEET = re.compile(r"""<link[^>]+rel=["']?stylesheet[^>]+href=["']?([^"' >]+)""", re.I)
# The headers that say how a browser treats the answer; a second copy of one means two layers set
# it, and browsers combine or pick between them unpredictably.
SECURITY_HEADERS = (
    "strict-transport-security",
    "content-security-policy",
    "x-frame-options",
    "x-content-type-options",
    "referrer-policy",
    "cross-origin-opener-policy",
    "cross-origin-resource-policy",
    "permissions-policy",
)


@dataclass(frozen=True)
class Shortfall:
    check: str
    problem: str
    fix: str


@dataclass
class Answer:
    url: str
    status: int
    headers: list[tuple[str, str]]
    body: str

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]

    def get(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None


@dataclass
class Report:
    url: str
    shortfalls: list[Shortfall] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def fail(self, check: str, problem: str, fix: str) -> None:
        self.shortfalls.append(Shortfall(check, problem, fix))

    def as_dict(self) -> dict:
        return {
            "url": self.url,
            "ok": not self.shortfalls,
            "shortfalls": [vars(shortfall) for shortfall in self.shortfalls],
            "passed": self.passed,
            "notes": self.notes,
        }


def proxy_config() -> str:
    """Where the answers the proxy makes, its TLS and its redirect are set."""
    return settings.DEPLOY_PROXY_CONFIG or "the platform's TLS and routing settings"


class Site:
    """Requests to one site, each on a connection of its own."""

    def __init__(self, url: str, context: ssl.SSLContext) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or ""
        self.port = parts.port or 443
        self.origin = f"https://{parts.netloc}"
        self.context = context

    def connection(self, scheme: str = "https") -> http.client.HTTPConnection:
        if scheme == "http":
            return http.client.HTTPConnection(self.host, 80, timeout=REQUEST_TIMEOUT)
        return http.client.HTTPSConnection(
            self.host, self.port, timeout=REQUEST_TIMEOUT, context=self.context
        )

    def get(self, path: str, scheme: str = "https", method: str = "GET") -> Answer:
        connection = self.connection(scheme)
        try:
            connection.request(method, path, headers={"User-Agent": "check_live"})
            response = connection.getresponse()
            body = response.read(READ_LIMIT)
            return Answer(
                f"{scheme}://{self.host}{path}",
                response.status,
                [(name.lower(), value) for name, value in response.getheaders()],
                body.decode("utf-8", errors="replace"),
            )
        finally:
            connection.close()

    def post_oversized(self, path: str, size: int) -> Answer:
        """POST a body of size bytes, sent as a browser sends it: until the server answers,
        which a proxy that refuses it may do before it has read all of it (or, like Apache, only
        once it has read and discarded it)."""
        raw = socket.create_connection((self.host, self.port), timeout=REQUEST_TIMEOUT)
        with self.context.wrap_socket(raw, server_hostname=self.host) as sock:
            head = (
                f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nUser-Agent: check_live\r\n"
                "Content-Type: application/octet-stream\r\n"
                f"Content-Length: {size}\r\nConnection: close\r\n\r\n"
            )
            sock.sendall(head.encode())
            chunk, left, early = b"x" * 65536, size, b""
            while left and not early:
                if select.select([sock], [], [], 0)[0]:
                    early = early_answer(sock)
                    continue
                try:
                    sock.sendall(chunk[:left])
                except OSError:
                    break
                left -= min(left, len(chunk))
            response = http.client.HTTPResponse(Prefixed(sock, early))  # type: ignore[arg-type]
            response.begin()
            headers = [(name.lower(), value) for name, value in response.getheaders()]
            body = response.read(READ_LIMIT).decode("utf-8", errors="replace")
            return Answer(f"https://{self.host}{path}", response.status, headers, body)


def early_answer(sock: ssl.SSLSocket) -> bytes:
    """What the server has sent, or b"": a TLS record that carries no data, such as a session
    ticket, makes the socket readable too."""
    sock.setblocking(False)
    try:
        return sock.recv(65536)
    except (ssl.SSLWantReadError, BlockingIOError):
        return b""
    finally:
        sock.settimeout(REQUEST_TIMEOUT)


class Prefixed(io.RawIOBase):
    """A connection read as a file, after the bytes already read from it."""

    def __init__(self, sock: ssl.SSLSocket, prefix: bytes) -> None:
        self.sock, self.prefix = sock, prefix

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.prefix:
            size = min(len(buffer), len(self.prefix))
            buffer[:size], self.prefix = self.prefix[:size], self.prefix[size:]
            return size
        return self.sock.recv_into(buffer)

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(self)


def check_site(url: str, *, oversized_post: bool = False) -> Report:
    """Every check, in the order a reader fixes them: TLS first, then what is served over it."""
    report = Report(url)
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        report.fail("url", f"{url!r} is not an https:// URL", "give the site's https:// address")
        return report
    context = check_certificate(report, parts.hostname, parts.port or 443)
    check_protocols(report, parts.hostname, parts.port or 443)
    site = Site(url, context)
    for name, run in [
        ("redirect", lambda: check_redirect(report, site)),
        ("pages", lambda: check_pages(report, site)),
        ("security.txt", lambda: check_security_txt(report, site)),
        ("admin", lambda: check_admin(report, site)),
    ]:
        try:
            run()
        except (OSError, http.client.HTTPException) as error:
            report.fail(name, f"no answer: {type(error).__name__}: {error}", proxy_config())
    if oversized_post:
        check_body_limit(report, site)
    return report


def check_certificate(report: Report, host: str, port: int) -> ssl.SSLContext:
    """The certificate chain as browsers verify it, and its days left. Returns the context the
    other checks use: verifying, or, when the certificate fails, one that does not, so that the
    report still lists what the site would serve."""
    context = ssl.create_default_context()
    fix = f"the certificate the proxy serves ({proxy_config()}): a full chain, renewed in time"
    try:
        with (
            socket.create_connection((host, port), timeout=REQUEST_TIMEOUT) as raw,
            context.wrap_socket(raw, server_hostname=host) as sock,
        ):
            certificate = sock.getpeercert()
    except ssl.SSLCertVerificationError as error:
        report.fail("tls.certificate", f"not trusted: {error.verify_message}", fix)
        unverified = ssl.create_default_context()
        unverified.check_hostname = False
        unverified.verify_mode = ssl.CERT_NONE
        return unverified
    except OSError as error:
        report.fail("tls.certificate", f"no TLS handshake: {error}", fix)
        return context
    ends = datetime.fromtimestamp(ssl.cert_time_to_seconds(certificate["notAfter"]), UTC)
    days = (ends - datetime.now(UTC)).days
    if days < CERTIFICATE_MIN_DAYS:
        report.fail("tls.certificate", f"expires in {days} days ({ends:%Y-%m-%d})", fix)
    else:
        report.passed.append(f"tls.certificate: trusted, {days} days left")
    return context


def check_protocols(report: Report, host: str, port: int) -> None:
    """TLS 1.0 and 1.1 refused (RFC 8996), TLS 1.3 offered (Mozilla's intermediate profile)."""
    fix = f"the TLS protocols of {proxy_config()}"
    for version, name, wanted in [
        (ssl.TLSVersion.TLSv1, "TLS 1.0", False),
        (ssl.TLSVersion.TLSv1_1, "TLS 1.1", False),
        (ssl.TLSVersion.TLSv1_3, "TLS 1.3", True),
    ]:
        offered = handshake(host, port, version)
        if offered is None:
            report.notes.append(f"{name} not tested: this machine's OpenSSL cannot offer it")
        elif offered != wanted:
            report.fail("tls.protocols", f"{name} {'not ' if wanted else ''}offered", fix)
        else:
            report.passed.append(f"tls.protocols: {name} {'' if wanted else 'not '}offered")


def handshake(host: str, port: int, version: ssl.TLSVersion) -> bool | None:
    """Whether the site completes a handshake in version alone; None when this client cannot
    offer it. Only the protocol is in question here: the certificate is checked above."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        # Old protocols need old ciphers, which OpenSSL's default security level leaves out.
        context.set_ciphers("ALL:@SECLEVEL=0")
        context.minimum_version = context.maximum_version = version
    except (ssl.SSLError, ValueError):
        return None
    try:
        with (
            socket.create_connection((host, port), timeout=REQUEST_TIMEOUT) as raw,
            context.wrap_socket(raw, server_hostname=host),
        ):
            return True
    except ssl.SSLError as error:
        # Raised before anything is sent when this OpenSSL was built without the version.
        return None if error.reason == "NO_PROTOCOLS_AVAILABLE" else False
    except OSError:
        return False


def check_redirect(report: Report, site: Site) -> None:
    """Plain HTTP answers with a permanent redirect to the same address over HTTPS."""
    fix = f"the port 80 server of {proxy_config()}, and SECURE_SSL_REDIRECT"
    try:
        answer = site.get("/", scheme="http")
    except OSError as error:
        # A site that does not listen on port 80 cannot be reached over plain HTTP at all.
        report.notes.append(f"http://{site.host}/ refused the connection ({error})")
        return
    location = answer.get("location") or ""
    if answer.status not in {301, 308} or not location.startswith(f"https://{site.host}/"):
        report.fail(
            "redirect",
            f"http://{site.host}/ answered {answer.status} {location or '(no Location)'}, "
            f"not a permanent redirect to https://{site.host}/",
            fix,
        )
    else:
        report.passed.append("redirect: HTTP goes to HTTPS")


def check_pages(report: Report, site: Site) -> None:
    """The headers of each kind of answer: a page, an error page, a static file and an answer the
    proxy makes itself; the cookies of the sign-in page; no debug page."""
    missing = f"check-live-{secrets.token_hex(8)}"
    home = site.get("/")
    if home.status != 200:
        report.fail("page", f"/ answered {home.status}", "the site's home page (config/urls.py)")
    error = site.get(f"/{missing}/")
    sign_in = site.get(resolve_url(settings.LOGIN_URL))
    static = static_file(home)
    answers = {
        "page": (home, "django"),
        "sign-in page": (sign_in, "django"),
        "error page": (error, "django"),
        "proxy's own answer": (site.get(f"{static_root()}{missing}.css"), "proxy"),
    }
    if static:
        answers["static file"] = (site.get(static), "proxy")
    else:
        report.fail(
            "static file",
            "the home page links no stylesheet to check",
            "templates/base.html (a stylesheet from STATIC_URL)",
        )
    for kind, (answer, maker) in answers.items():
        before = len(report.shortfalls)
        check_headers(report, kind, answer, maker)
        if len(report.shortfalls) == before:
            report.passed.append(f"headers: {kind} ({answer.status})")
    if error.status != 404:
        report.fail("error page", f"a missing page answered {error.status}, not 404", "DEBUG")
    if any(mark in answer.body for answer, _ in answers.values() for mark in DEBUG_MARKS):
        report.fail(
            "debug", "a debug page or a traceback was served", "DEBUG (config/settings/prod.py)"
        )
    check_cookies(report, [answer for answer, _ in answers.values()])
    for page in (home, sign_in):
        check_nonces(report, site, page)


def static_root() -> str:
    return "/" + settings.STATIC_URL.strip("/") + "/"


def static_file(page: Answer) -> str | None:
    """The path of the first stylesheet the page links, on this site."""
    for href in STYLESHEET.findall(page.body):
        path = urlsplit(urljoin(page.url, href))
        if path.path.startswith(static_root()):
            return path.path
    return None


def check_headers(report: Report, kind: str, answer: Answer, maker: str) -> None:
    """What every answer carries, compared with the settings; maker says which layer set them
    ("django": its pages, "proxy": the files and answers the proxy serves itself)."""
    where = (
        "config/settings/base.py and security/headers.py"
        if maker == "django"
        else f"the headers {proxy_config()} adds to its own answers"
    )

    def fail(problem: str, setting: str) -> None:
        report.fail(f"headers: {kind}", f"{answer.url} ({answer.status}): {problem}", setting)

    for name in SECURITY_HEADERS:
        if len(answer.all(name)) > 1:
            fail(f"{name} sent {len(answer.all(name))} times", f"{where}: set it in one layer")
    check_hsts(answer.get("strict-transport-security"), fail, where)
    check_csp(answer.get("content-security-policy"), fail, where)
    expected = {
        "x-frame-options": (settings.X_FRAME_OPTIONS, "X_FRAME_OPTIONS"),
        "referrer-policy": (settings.SECURE_REFERRER_POLICY, "SECURE_REFERRER_POLICY"),
        "cross-origin-opener-policy": (
            settings.SECURE_CROSS_ORIGIN_OPENER_POLICY,
            "SECURE_CROSS_ORIGIN_OPENER_POLICY",
        ),
    }
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        expected["x-content-type-options"] = ("nosniff", "SECURE_CONTENT_TYPE_NOSNIFF")
    for name, (value, setting) in expected.items():
        seen = answer.get(name)
        if (seen or "").lower() != value.lower():
            fail(f"{name} is {seen!r}, expected {value!r}", f"{where} ({setting})")
    corp = (answer.get("cross-origin-resource-policy") or "").lower()
    if corp not in {"same-origin", "same-site"}:
        fail(f"cross-origin-resource-policy is {corp or None!r}, expected same-origin", where)
    # The proxy's own answers run no script (default-src 'none'), so they may leave it out.
    if maker == "django" or answer.get("permissions-policy"):
        check_permissions_policy(answer.get("permissions-policy"), fail, where)
    server = answer.get("server") or ""
    if VERSION.search(server) or answer.get("x-powered-by"):
        fail(
            f"names its software: Server {server!r}, X-Powered-By {answer.get('x-powered-by')!r}",
            f"{proxy_config()} (server_tokens off, ServerTokens Prod, or -Server)",
        )


def check_hsts(value: str | None, fail, where: str) -> None:
    directives = [part.strip().lower() for part in (value or "").split(";") if part.strip()]
    max_age = next((d[8:].strip('"') for d in directives if d.startswith("max-age=")), "")
    fix = f"{where} (SECURE_HSTS_SECONDS, SECURE_HSTS_INCLUDE_SUBDOMAINS, SECURE_HSTS_PRELOAD)"
    if not max_age.isdigit() or int(max_age) < settings.SECURE_HSTS_SECONDS:
        fail(
            f"strict-transport-security {value!r}: max-age under {settings.SECURE_HSTS_SECONDS}",
            fix,
        )
    for directive, wanted in [
        ("includesubdomains", settings.SECURE_HSTS_INCLUDE_SUBDOMAINS),
        ("preload", settings.SECURE_HSTS_PRELOAD),
    ]:
        if (directive in directives) != wanted:
            state = "lacks" if wanted else "has"
            fail(f"strict-transport-security {value!r} {state} {directive}", fix)


def parse_policy(value: str) -> dict[str, list[str]]:
    policy = {}
    for directive in value.split(";"):
        name, *sources = directive.split()
        policy.setdefault(name.lower(), sources)
    return policy


def check_csp(value: str | None, fail, where: str) -> None:
    """A strict policy: nothing by default, no unsafe-* source, framing as SECURE_CSP says."""
    fix = f"{where} (SECURE_CSP)"
    if not value:
        fail("no content-security-policy", fix)
        return
    policy = parse_policy(value)
    if policy.get("default-src") != ["'none'"]:
        fail(f"default-src is {policy.get('default-src')}, expected 'none'", fix)
    unsafe = sorted({s for sources in policy.values() for s in sources if "unsafe-" in s})
    if unsafe:
        fail(f"content-security-policy allows {', '.join(unsafe)}", fix)
    expected = parse_policy(f"frame-ancestors {' '.join(settings.SECURE_CSP['frame-ancestors'])}")
    if policy.get("frame-ancestors") != expected["frame-ancestors"]:
        fail(f"frame-ancestors is {policy.get('frame-ancestors')}", fix)


def check_nonces(report: Report, site: Site, page: Answer) -> None:
    """A page's inline scripts and styles run by the nonce of its own answer, and no two answers
    share one: a cache that keeps a page keeps its nonce, which an injected script can then
    copy."""
    fix = "a cache in front of the site that stores pages (Cache-Control), or SECURE_CSP"
    used = set(NONCE_ATTRIBUTE.findall(page.body))
    allowed = set(NONCE_SOURCE.findall(page.get("content-security-policy") or ""))
    if used - allowed:
        report.fail("csp nonce", f"{page.url}: elements carry a nonce its policy lacks", fix)
    if allowed:
        again = site.get(urlsplit(page.url).path)
        if allowed & set(NONCE_SOURCE.findall(again.get("content-security-policy") or "")):
            report.fail("csp nonce", f"{page.url}: two answers carry the same nonce", fix)
        else:
            report.passed.append(f"csp nonce: fresh on each answer of {page.url}")


def check_permissions_policy(value: str | None, fail, where: str) -> None:
    """Every feature PERMISSIONS_POLICY turns off is off in the answer."""
    allowed = {}
    for item in (value or "").split(","):
        feature, _, allow_list = item.strip().partition("=")
        allowed[feature] = allow_list
    left_on = [
        feature
        for feature, origins in settings.PERMISSIONS_POLICY.items()
        if not origins and allowed.get(feature) != "()"
    ]
    if left_on:
        fail(
            f"permissions-policy leaves on {', '.join(left_on[:5])}"
            + (f" and {len(left_on) - 5} more" if len(left_on) > 5 else ""),
            f"{where} (PERMISSIONS_POLICY)",
        )


def cookie_attributes(header: str) -> tuple[str, dict[str, str]]:
    name_value, *attributes = header.split(";")
    parsed = {}
    for attribute in attributes:
        key, _, value = attribute.strip().partition("=")
        parsed[key.lower()] = value
    return name_value.split("=", 1)[0].strip(), parsed


def check_cookies(report: Report, answers: list[Answer]) -> None:
    """Every cookie the site sets is __Host- (Secure, Path=/, no Domain), HttpOnly and SameSite;
    the sign-in page sets the CSRF cookie, so there is one to check."""
    expected = {
        settings.SESSION_COOKIE_NAME: ("SESSION_COOKIE_HTTPONLY", "SESSION_COOKIE_SAMESITE"),
        settings.CSRF_COOKIE_NAME: ("CSRF_COOKIE_HTTPONLY", "CSRF_COOKIE_SAMESITE"),
    }
    seen = set()
    for header in (value for answer in answers for value in answer.all("set-cookie")):
        name, attributes = cookie_attributes(header)
        seen.add(name)
        httponly, samesite = expected.get(name, (None, None))
        fix = f"config/settings/base.py ({', '.join(filter(None, (httponly, samesite)))})"
        problems = []
        if not name.startswith("__Host-"):
            problems.append("no __Host- prefix")
        if "secure" not in attributes:
            problems.append("not Secure")
        if attributes.get("path") != "/" or "domain" in attributes:
            problems.append("not Path=/ without Domain")
        if "httponly" not in attributes and (httponly is None or getattr(settings, httponly)):
            problems.append("not HttpOnly")
        wanted_samesite = getattr(settings, samesite) if samesite else "Lax"
        if attributes.get("samesite", "").lower() not in {wanted_samesite.lower(), "strict"}:
            problems.append(f"SameSite={attributes.get('samesite')}, expected {wanted_samesite}")
        if problems:
            report.fail("cookies", f"{name}: {', '.join(problems)}", fix)
        else:
            report.passed.append(f"cookies: {name}")
    if not settings.CSRF_USE_SESSIONS and settings.CSRF_COOKIE_NAME not in seen:
        report.fail(
            "cookies",
            f"the sign-in page set no {settings.CSRF_COOKIE_NAME} cookie to check",
            "a cache in front of the site may be stripping cookies",
        )


def check_security_txt(report: Report, site: Site) -> None:
    """RFC 9116: present, with the project's contact, and not expired."""
    fix = "config/urls.py and security/views.py (SECURITY_CONTACT)"
    answer = site.get("/.well-known/security.txt")
    fields = dict(
        line.split(":", 1) for line in answer.body.splitlines() if ":" in line and line[0] != "#"
    )
    contact = fields.get("Contact", "").strip()
    if answer.status != 200 or contact != f"mailto:{settings.SECURITY_CONTACT}":
        report.fail(
            "security.txt", f"answered {answer.status} with Contact {contact or None!r}", fix
        )
        return
    try:
        expires = datetime.fromisoformat(fields.get("Expires", "").strip())
    except ValueError:
        report.fail("security.txt", "no Expires date (RFC 9116 requires one)", fix)
        return
    days = (expires - datetime.now(UTC)).days
    if days < SECURITY_TXT_MIN_DAYS:
        report.fail("security.txt", f"expires in {days} days ({expires:%Y-%m-%d})", fix)
    else:
        report.passed.append(f"security.txt: valid for {days} more days")


def check_admin(report: Report, site: Site) -> None:
    """The admin is not where scanners look for it."""
    fix = "admin_path in .copier-answers.yml (config/urls.py)"
    if reverse("admin:index") == "/admin/":
        report.fail("admin", "the admin is at /admin/", fix)
        return
    answer = site.get("/admin/")
    if answer.status != 404:
        report.fail("admin", f"/admin/ answered {answer.status}, not 404", fix)
    else:
        report.passed.append("admin: not at /admin/")


def check_body_limit(report: Report, site: Site) -> None:
    """A body over the proxy's limit is refused by the proxy before it reaches Django. It goes to
    an address Django would answer 404, so that a refusal can only be the proxy's: 413, or 403
    where the proxy refuses it by its declared length (Apache's Require all denied)."""
    limit = settings.DEPLOY_BODY_LIMIT_MIB * 1024 * 1024
    fix = f"the request body limit of {proxy_config()} (DEPLOY_BODY_LIMIT_MIB)"
    path = f"/check-live-{secrets.token_hex(8)}/"
    try:
        answer = site.post_oversized(path, limit + 1024 * 1024)
    except (OSError, http.client.HTTPException) as error:
        report.fail("body limit", f"no answer to an oversized POST: {error}", fix)
        return
    if answer.status not in {403, 413}:
        report.fail("body limit", f"a body over {limit} bytes answered {answer.status}", fix)
    else:
        report.passed.append(f"body limit: refused with {answer.status}")


def lines(report: Report) -> Iterator[str]:
    """The report for a person: each shortfall with its fix, then what passed."""
    for shortfall in report.shortfalls:
        yield f"FAIL {shortfall.check}: {shortfall.problem}\n     fix: {shortfall.fix}"
    for passed in report.passed:
        yield f"ok   {passed}"
    for note in report.notes:
        yield f"note {note}"
