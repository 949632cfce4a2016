"""Every page a user can reach says what the project's answers make true, seen in Chromium.

For each set of answers that changes what the pages say (open sign-up, the kind of second factors,
the kind of uploads), a project is generated and served with its development settings. Headless
Chromium walks it twice, signed out and then signed in as a user whose second factors are enrolled
where the project has them: from the home page and from every page of the URL conf that takes no
parameter, it follows each same-site link, visits each page once, and takes a screenshot of it.

Each page is held to the answers: no sign-up link or invitation where sign-up is closed, no word of
second factors without MFA, of passkeys without WebAuthn, of uploads without uploads; no link that
answers anything but 200 or a redirect; no placeholder text; a <title> and an <h1>; no Content
Security Policy violation and no script error in Chromium's console.

The screenshots stay under the test's tmp dir (pytest keeps the last three runs); a failure names
the folder, so a developer can look at the pages the defects were found on.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from playwright.sync_api import BrowserContext, Page, sync_playwright

from .helpers import free_port
from .services import wait_for_port
from .test_browser import totp

CHROMIUM = shutil.which("chromium")
USER = "reviewer@example.org"
PASSWORD = "correct horse battery staple"  # noqa: S105 (the test account's)
# The TOTP secret the user's authenticator app holds (base32), so that the walk can sign in.
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # noqa: S105 (the test account's)

# The answers that change what the pages say, each choice at least once: open_signup, mfa (with
# mfa_required_for both ways) and uploads. The rest of the answers change no page.
REVIEWED = {
    "defaults": {},
    "open-signup-no-mfa-no-uploads": {"open_signup": True, "mfa": "none", "uploads": "none"},
    "totp-everyone-images": {
        "mfa": "totp",
        "mfa_required_for": "everyone",
        "uploads": "images",
    },
    "open-signup-webauthn-documents": {"open_signup": True, "uploads": "documents"},
}

CREATE_USER = """
import os

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model

email, password, secret = (os.environ[name] for name in ("USER", "PASSWORD", "SECRET"))
# create_user: its password skips the validators, whose breach check would ask the Pwned Passwords
# service (not reachable from the tests) about a famous passphrase.
user = get_user_model().objects.create_user(email, password)
EmailAddress.objects.create(user=user, email=email, primary=True, verified=True)
if "allauth.mfa" in settings.INSTALLED_APPS:
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
    from allauth.mfa.totp.internal.auth import TOTP

    TOTP.activate(user, secret)
    RecoveryCodes.activate(user)
"""

# Every page of the URL conf that takes no parameter, as a path; the walk follows links from them.
URL_CONF_PAGES = """
import json

from django.urls import URLResolver, get_resolver


def walk(patterns, prefix):
    for entry in patterns:
        if entry.pattern.regex.groupindex:
            continue
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from walk(entry.url_patterns, route)
        elif "<" not in route and not route.startswith("^"):
            yield "/" + route


print(json.dumps(sorted(set(walk(get_resolver().url_patterns, "")))))
"""

MACHINE_PATHS = ("/health/", "/csp-report/")

# Words that must not appear on any page where the answers make them untrue.
SIGN_UP = re.compile(r"\bsign[\s-]?up\b|\bregister\b|create (?:an|your) account", re.IGNORECASE)
MFA_WORDS = re.compile(
    r"two[\s-]factor|\b2fa\b|\bmfa\b|authenticator|recovery codes?|second factor|one-time code",
    re.IGNORECASE,
)
PASSKEY_WORDS = re.compile(r"passkey|security key|webauthn", re.IGNORECASE)
UPLOAD_WORDS = re.compile(r"upload|your files", re.IGNORECASE)
PLACEHOLDERS = re.compile(
    r"\bTODO\b|\bFIXME\b|\bXXX\b|lorem|ipsum|example\.com|your[ _-]site|changeme", re.IGNORECASE
)


@dataclass
class Review:
    """What the walk saw: the pages (path -> screenshot), the links, and the defects found."""

    base: str
    shots: Path
    answers: dict[str, object]
    url_conf: list[str]
    pages: dict[str, Path] = field(default_factory=dict)
    defects: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    current: str = ""

    @property
    def open_signup(self) -> bool:
        return bool(self.answers.get("open_signup", False))

    @property
    def mfa(self) -> str:
        return str(self.answers.get("mfa", "totp_webauthn"))

    @property
    def uploads(self) -> str:
        return str(self.answers.get("uploads", "images_and_documents"))

    def defect(self, path: str, what: str) -> None:
        shot = self.pages.get(path)
        self.defects.append(f"{path}: {what}" + (f" (see {shot.name})" if shot else ""))


@pytest.fixture
def served(request, generate, project_python, tmp_path) -> Iterator[Review]:
    """The project generated with the answers of request.param, under runserver, and the review of
    its pages to fill."""
    if CHROMIUM is None:
        pytest.fail("Chromium is not installed (Debian: chromium; .ci/run installs it)")
    answers = REVIEWED[request.param]
    project = generate(**answers)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.dev"}

    def manage(*command: str, **extra_env: str) -> str:
        done = subprocess.run(
            [project_python, "manage.py", *command],
            cwd=project,
            env={**env, **extra_env},
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    manage("migrate", "--noinput")
    manage("shell", "-c", CREATE_USER, USER=USER, PASSWORD=PASSWORD, SECRET=TOTP_SECRET)
    url_conf = json.loads(manage("shell", "--no-imports", "-c", URL_CONF_PAGES))
    port = free_port()
    log = (tmp_path / "runserver.log").open("w")
    server = subprocess.Popen(
        [project_python, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=project,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, server, "runserver")
        yield Review(f"http://127.0.0.1:{port}", tmp_path / "screenshots", answers, url_conf)
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def words(page: Page) -> str:
    """What a reader of the page sees: its title, its text, and the text of its fields."""
    return "\n".join(
        [
            page.title(),
            page.inner_text("body"),
            *page.eval_on_selector_all(
                "[placeholder], [aria-label], img[alt]",
                "elements => elements.map(e => e.placeholder || e.ariaLabel || e.alt || '')",
            ),
        ]
    )


def check_words(review: Review, path: str, page: Page, links: list[str]) -> None:
    """The page's words and links against the answers the project was generated with."""
    text = words(page)
    link_paths = {urlsplit(link).path for link in links}

    def forbid(pattern: re.Pattern[str], link_part: str, why: str) -> None:
        found = pattern.search(text)
        if found:
            review.defect(path, f"says {found.group(0)!r}, but {why}")
        for link in sorted(link_paths):
            if link_part in link:
                review.defect(path, f"links to {link}, but {why}")

    if not review.open_signup and path != "/accounts/signup/":
        forbid(SIGN_UP, "/accounts/signup/", "sign-up is closed")
    if review.mfa == "none":
        forbid(MFA_WORDS, "/accounts/2fa/", "the project has no MFA")
    if review.mfa != "totp_webauthn":
        forbid(PASSKEY_WORDS, "/webauthn/", "the project has no passkeys (WebAuthn)")
    if review.uploads == "none":
        forbid(UPLOAD_WORDS, "/files/", "the project has no uploads")
    placeholder = PLACEHOLDERS.search(text)
    if placeholder:
        review.defect(path, f"shows the placeholder {placeholder.group(0)!r}")
    if not page.title().strip() or page.title().strip().startswith("·"):
        review.defect(path, f"has no title of its own ({page.title()!r})")
    if page.locator("h1").count() != 1:
        review.defect(path, f"has {page.locator('h1').count()} <h1> elements, not one")
    elif not page.locator("h1").inner_text().strip():
        review.defect(path, "has an empty <h1>")


def walk(context: BrowserContext, page: Page, review: Review, phase: str) -> set[str]:
    """Visit the home page, the URL conf's pages and every same-site page they link to, once each;
    return the paths of the HTML pages seen."""
    linked: dict[str, str] = {}  # path -> the page that links to it
    # The health probes and the CSP report endpoint are for machines (test_health.py, test_csp.py
    # in the project); in development the readiness probe answers 503 until the uploads folder
    # exists.
    queue = ["/", *(path for path in review.url_conf if not path.startswith(MACHINE_PATHS))]
    queued = set(queue)
    seen: set[str] = set()

    def enqueue(url: str, source: str) -> None:
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" != review.base:
            return
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        linked.setdefault(parts.path, source)
        if parts.path not in queued:
            queued.add(parts.path)
            queue.append(target)

    while queue:
        target = queue.pop(0)
        path = urlsplit(target).path
        source = linked.get(path)
        url = review.base + target
        # Asked first without following redirects and without the browser: the status the link
        # answers, and whether it is a page at all (not a download, a feed or an endpoint).
        response = context.request.get(url, max_redirects=0)
        status = response.status
        if status in (301, 302, 303, 307, 308):
            enqueue(urljoin(url, response.headers["location"]), source or path)
            continue
        if status != 200:
            # A page of the URL conf that no page links to may refuse this user (the admin, to
            # someone who is not staff); a link that does not open is a broken link.
            if source is not None or status not in (403, 405):
                review.defect(
                    path, f"answers {status}" + (f" (linked from {source})" if source else "")
                )
            continue
        headers = response.headers
        if not headers.get("content-type", "").startswith("text/html") or (
            "attachment" in headers.get("content-disposition", "")
        ):
            continue
        seen.add(path)
        shot = review.shots / f"{phase}-{len(review.pages):02d}{path.replace('/', '_')}.png"
        review.pages[path] = shot
        review.current = path
        page.goto(url)
        page.screenshot(path=shot, full_page=True)
        if urlsplit(page.url).path != path:
            review.defect(path, f"moved on to {page.url} in the browser")
        links = page.eval_on_selector_all(
            "a[href]", "links => links.map(a => a.href.split('#')[0])"
        )
        check_words(review, path, page, links)
        for link in links:
            enqueue(link, path)
    return seen


def sign_in(page: Page, review: Review) -> None:
    page.goto(f"{review.base}/accounts/login/")
    page.fill("input[name=login]", USER)
    page.fill("input[name=password]", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    if urlsplit(page.url).path == "/accounts/2fa/authenticate/":
        page.fill("input[name=code]", totp(TOTP_SECRET))
        page.click("main form button[type=submit]")
        page.wait_for_load_state()
    assert page.locator("form[action='/accounts/logout/'] button").count() == 1, page.url


@pytest.mark.browser
@pytest.mark.parametrize("served", REVIEWED, indirect=True)
def test_every_page_says_what_the_answers_make_true(served: Review, tmp_path):
    review = served
    review.shots.mkdir()
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path / "profile",
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            viewport={"width": 1024, "height": 768},
        )
        try:
            page = context.new_page()
            page.on(
                "console",
                lambda message: review.console.append(f"{review.current}: {message.text}"),
            )
            page.on("pageerror", lambda error: review.console.append(f"{review.current}: {error}"))
            signed_out = walk(context, page, review, "out")
            sign_in(page, review)
            signed_in = walk(context, page, review, "in")
        finally:
            context.close()

    for line in review.console:
        if "Content Security Policy" in line or "Error" in line:
            path, _, message = line.partition(": ")
            review.defect(path, f"console: {message}")
    assert "csp.violation" not in (tmp_path / "runserver.log").read_text()
    # The walk reached the pages the answers promise, so that the checks above saw them.
    promised = {"/accounts/login/"} - signed_out
    promised |= {"/accounts/password/change/", "/accounts/sessions/"} - signed_in
    if review.mfa != "none":
        promised |= {"/accounts/2fa/", "/accounts/2fa/recovery-codes/"} - signed_in
    if review.mfa == "totp_webauthn":
        promised |= {"/accounts/2fa/webauthn/"} - signed_in
    if review.uploads != "none":
        promised |= {"/files/"} - signed_in
    for path in sorted(promised):
        review.defect(path, "was never reached")
    assert review.defects == [], (
        f"{len(review.defects)} defects; the screenshots are in {review.shots}:\n"
        + "\n".join(review.defects)
    )
