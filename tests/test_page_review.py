"""Every page a user can reach says what the project's answers make true, seen in Chromium.

For each answer set of the generation matrix that together give every choice of the answers that
change what the pages say (open sign-up, the kind of second factors and who must use them, the kind
of uploads), the project is generated and served by runserver with its development settings and
DEBUG off, as production shows its pages (its 404 page, not Django's technical one). Headless
Chromium walks it twice, signed out and then signed in as a user who is not staff, whose
authenticator app is enrolled where the project has MFA: from the home page, from every page of the
URL conf that takes no parameter and from an address that does not exist, it follows each same-site
link and redirect, visits each page once and takes a screenshot of it on a desktop's screen and on
a phone's. Signed in, it answers the reauthentication allauth asks before the pages that change how
the account signs in (with the second factor where there is MFA), then opens the pages that sent it
there. Where there is MFA, the second-factor step of the sign-in is seen too, and a user who has yet
to enrol signs in to see where they land and the enrolment of an authenticator app.

Each page is held to the answers: no sign-up link or wording where sign-up is closed, no word of
second factors without MFA, of passkeys without WebAuthn, of uploads without uploads, of a kind of
file the site does not accept; the files page names the kinds and the size it accepts. Each page is
in the site's layout with its name (the admin's refusal and the missing page too), no wider than a
phone's screen, with a <title> of its own and one <h1>; it shows no template name, template syntax
or placeholder text; no link answers anything but 200 or a redirect; Chromium's console shows no
Content Security Policy violation and no script error.

The screenshots stay under the test's tmp dir: a failure names the folder. pytest keeps the last
three runs of everyone who shares /tmp, so give --basetemp to keep them (docs/page-review.md).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import yaml
from playwright.sync_api import BrowserContext, Page, sync_playwright

from .answer_sets import ANSWER_SETS
from .services import runserver
from .test_answer_sets import choice_values, questions
from .test_browser import totp

CHROMIUM = shutil.which("chromium")
USER = "reviewer@example.org"
# A user who has yet to enrol a second factor.
NEWCOMER = "newcomer@example.org"
PASSWORD = "correct horse battery staple"  # noqa: S105 (the test account's)
# The TOTP secret the user's authenticator app holds (base32), so that the walk can sign in.
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # noqa: S105 (the test account's)

# The answers that change what a page says; the others (hosting, proxy, storage, CI...) change none.
PAGE_ANSWERS = ("open_signup", "mfa", "mfa_required_for", "uploads")
# Sets of the generation matrix that give each choice of those answers at least once (the first
# test below holds them to it); each runs in its set's xdist group, like the generation tests.
REVIEWED = ["defaults", "vps-caddy", "docker-apache", "paas-platform"]

# An address that is no page: the walk sees the site's 404 page there.
MISSING = "/no-such-page/"
# The health probes and the CSP report endpoint are for machines (test_health.py, test_csp.py in
# the project).
MACHINE_PATHS = ("/health/", "/csp-report/")
# allauth's reauthentication, with the password and with a second factor.
REAUTHENTICATION = {"/accounts/reauthenticate/", "/accounts/2fa/reauthenticate/"}

CREATE_USER = """
import os

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model

email, newcomer, password, secret = (
    os.environ[name] for name in ("USER", "NEWCOMER", "PASSWORD", "SECRET")
)
# create_user: its password skips the validators, whose breach check would ask the Pwned Passwords
# service (not reachable from the tests) about a famous passphrase.
for address in (newcomer, email):
    user = get_user_model().objects.create_user(address, password)
    EmailAddress.objects.create(user=user, email=address, primary=True, verified=True)
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

# Each page is seen on a desktop's screen and on a phone's, where it must not be wider than it.
DESKTOP = {"width": 1024, "height": 768}
PHONE = {"width": 360, "height": 740}

# The development settings with DEBUG off: the pages as production shows them. runserver's
# --insecure still serves the static files.
REVIEW_SETTINGS = """from .dev import *  # noqa: F403

DEBUG = False
"""

# Words that must not appear on any page where the answers make them untrue.
SIGN_UP = re.compile(r"\bsign[\s-]?up\b|\bregister\b|create (?:an|your) account", re.IGNORECASE)
MFA_WORDS = re.compile(
    r"two[\s-]factor|\b2fa\b|\bmfa\b|authenticator|recovery codes?|second factor|one-time code",
    re.IGNORECASE,
)
PASSKEY_WORDS = re.compile(r"passkey|security key|webauthn", re.IGNORECASE)
UPLOAD_WORDS = re.compile(r"upload|your files", re.IGNORECASE)
# The files of each kind of upload, as the pages name them.
KIND_FILES = {
    "images": re.compile(r"\.(?:png|jpe?g|gif|webp|svg)\b", re.IGNORECASE),
    "documents": re.compile(r"\.(?:pdf|docx|xlsx|pptx|txt)\b", re.IGNORECASE),
}
PLACEHOLDERS = re.compile(
    r"\bTODO\b|\bFIXME\b|\bXXX\b|lorem|ipsum|example\.com|your[ _-]site|changeme", re.IGNORECASE
)
# What a template shows when it is rendered wrong or names another: a template's path, a tag.
TEMPLATE_LEFTOVERS = re.compile(r"[\w/-]+\.(?:html|txt)\b|\{\{|\{%|%\}|\}\}")


def test_the_reviewed_sets_give_every_choice_that_changes_a_page():
    specs = questions()
    missing = []
    for name in PAGE_ANSWERS:
        spec = specs[name]
        expected = choice_values(spec) if "choices" in spec else [True, False]
        given = {ANSWER_SETS[answer_set].get(name, spec["default"]) for answer_set in REVIEWED}
        missing += [f"{name}: {value!r}" for value in expected if value not in given]
    assert missing == []


@dataclass
class Review:
    """What the walk saw: the pages (path -> screenshot), and the defects found."""

    base: str
    shots: Path
    answers: dict[str, object]
    url_conf: list[str]
    pages: dict[str, Path] = field(default_factory=dict)  # the last screenshot of each path
    shots_taken: int = 0
    defects: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    current: str = ""
    reauthenticated: bool = False

    @property
    def site_name(self) -> str:
        return str(self.answers["project_name"])

    @property
    def admin(self) -> str:
        return f"/{self.answers['admin_path']}/"

    @property
    def open_signup(self) -> bool:
        return bool(self.answers["open_signup"])

    @property
    def mfa(self) -> str:
        return str(self.answers["mfa"])

    @property
    def uploads(self) -> str:
        return str(self.answers["uploads"])

    @property
    def reauthentication(self) -> str:
        """The reauthentication the walk answers: with the second factor where there is one."""
        return (
            "/accounts/2fa/reauthenticate/" if self.mfa != "none" else "/accounts/reauthenticate/"
        )

    def defect(self, path: str, what: str) -> None:
        shot = self.pages.get(path)
        self.defects.append(f"{path}: {what}" + (f" (see {shot.name})" if shot else ""))


@pytest.fixture(
    params=[pytest.param(name, marks=pytest.mark.xdist_group(name)) for name in REVIEWED]
)
def served(request, generate, project_python_for, tmp_path) -> Iterator[Review]:
    """The project generated with an answer set, under runserver, and the review of its pages to
    fill."""
    if CHROMIUM is None:
        pytest.fail("Chromium is not installed (Debian: chromium; .ci/run installs it)")
    project = generate(**ANSWER_SETS[request.param])
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    python = project_python_for(answers["python_version"])
    (project / "config" / "settings" / "review.py").write_text(REVIEW_SETTINGS)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.review"}

    def manage(*command: str, **extra_env: str) -> str:
        done = subprocess.run(
            [python, "manage.py", *command],
            cwd=project,
            env={**env, **extra_env},
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    manage("migrate", "--noinput")
    manage(
        "shell",
        "-c",
        CREATE_USER,
        USER=USER,
        NEWCOMER=NEWCOMER,
        PASSWORD=PASSWORD,
        SECRET=TOTP_SECRET,
    )
    url_conf = json.loads(manage("shell", "--no-imports", "-c", URL_CONF_PAGES))
    with runserver(python, project, env, tmp_path / "runserver.log", "--insecure") as address:
        yield Review(address, tmp_path / "screenshots", answers, url_conf)


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
    """The page's words, links and layout against the answers the project was generated with."""
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
    for kind, files in KIND_FILES.items():
        found = files.search(text)
        if kind not in review.uploads and found:
            review.defect(path, f"says {found.group(0)!r}, but the site accepts no {kind}")
        elif kind in review.uploads and path == "/files/" and not found:
            review.defect(path, f"does not say that the site accepts {kind}")
    size = f"at most {review.answers.get('upload_max_mb')} MiB"
    if path == "/files/" and size not in text:
        review.defect(path, f"does not say the size the site accepts ({size!r})")
    for pattern, what in ((PLACEHOLDERS, "the placeholder"), (TEMPLATE_LEFTOVERS, "template text")):
        found = pattern.search(text)
        if found:
            review.defect(path, f"shows {what} {found.group(0)!r}")
    # The site's own name may have its apostrophe ("O'Brien & Sons Shop").
    prose = text.replace(review.site_name, "")
    if re.search(r"\w'\w", prose) and re.search(r"\w\u2019\w", prose):
        review.defect(path, "mixes straight and typographic apostrophes (can't, can\u2019t)")
    title = page.title().strip()
    if title != review.site_name and not title.endswith(f" · {review.site_name}"):
        review.defect(path, f"has no title of its own in the site's name ({title!r})")
    elif title.startswith("·"):
        review.defect(path, f"has an empty title before the site's name ({title!r})")
    site_name = page.locator("header.site-header a.site-name")
    if site_name.count() != 1 or site_name.inner_text().strip() != review.site_name:
        review.defect(path, "is not in the site's layout (no header with the site's name)")
    if page.locator("h1").count() != 1:
        review.defect(path, f"has {page.locator('h1').count()} <h1> elements, not one")
    elif not page.locator("h1").inner_text().strip():
        review.defect(path, "has an empty <h1>")


def expected_status(review: Review, path: str, phase: str) -> int:
    """What the page answers this user: the admin refuses a signed-in user who is not staff."""
    if path == MISSING:
        return 404
    if phase == "in" and path.startswith(review.admin):
        return 403
    return 200


def reauthenticate(page: Page, review: Review, path: str) -> None:
    """Answer allauth's reauthentication on the page the browser shows."""
    if path == "/accounts/2fa/reauthenticate/":
        # The next period's code: this period's may be the one that signed in, and a used code is
        # refused (accounts/totp.py); the tolerance of one period accepts the next.
        page.fill("input[name=code]", totp(TOTP_SECRET, time.time() + 30))
    else:
        page.fill("input[name=password]", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    if urlsplit(page.url).path in REAUTHENTICATION:
        review.defect(path, "refused the right answer")
    review.reauthenticated = True


def look_at(page: Page, review: Review, phase: str) -> list[str]:
    """Screenshot the page the browser shows, on a desktop's screen and a phone's, hold it to the
    answers, and return its links."""
    path = urlsplit(page.url).path
    review.current = path
    shot = review.shots / f"{phase}-{review.shots_taken:02d}{path.replace('/', '_')}.png"
    review.shots_taken += 1
    review.pages[path] = shot
    page.screenshot(path=shot, full_page=True)
    links = page.eval_on_selector_all("a[href]", "links => links.map(a => a.href.split('#')[0])")
    check_words(review, path, page, links)
    page.set_viewport_size(PHONE)
    width = page.evaluate("document.documentElement.scrollWidth")
    if width > PHONE["width"]:
        review.defect(path, f"is {width} px wide on a phone's {PHONE['width']} px screen")
    page.screenshot(path=shot.with_name(f"{shot.stem}-phone.png"), full_page=True)
    page.set_viewport_size(DESKTOP)
    return links


def walk(context: BrowserContext, page: Page, review: Review, phase: str) -> set[str]:
    """Visit the home page, the URL conf's pages, a missing page and every same-site page they
    link to, once each; return the paths of the HTML pages seen."""
    linked: dict[str, str] = {}  # path -> the page that links to it
    first = ["/", *(path for path in review.url_conf if not path.startswith(MACHINE_PATHS))]
    queue = list(dict.fromkeys([*first, MISSING]))
    queued = set(queue)
    # Pages that sent the user to reauthenticate first: opened again once that is done.
    waiting: list[str] = []
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
            location = urljoin(url, response.headers["location"])
            if urlsplit(location).path in REAUTHENTICATION and not review.reauthenticated:
                waiting.append(target)
            enqueue(location, source or path)
            continue
        if status != expected_status(review, path, phase):
            # A page of the URL conf that no page links to may take POST only.
            if source is not None or status != 405:
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
        review.current = path
        page.goto(url)
        if urlsplit(page.url).path != path:
            review.defect(path, f"moved on to {page.url} in the browser")
        links = look_at(page, review, phase)
        for link in links:
            enqueue(link, path)
        if phase == "in" and path == review.reauthentication and not review.reauthenticated:
            reauthenticate(page, review, path)
            for again in waiting:
                queue.append(again)
            waiting.clear()
    return seen


def sign_in(page: Page, review: Review, email: str = USER) -> set[str]:
    """Sign in through the form, answering the second-factor step; return the paths of the pages
    seen on the way after the form (the second-factor step), each held to the answers."""
    seen = set()
    page.goto(f"{review.base}/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    if urlsplit(page.url).path == "/accounts/2fa/authenticate/":
        seen.add(urlsplit(page.url).path)
        look_at(page, review, "in")
        page.fill("input[name=code]", totp(TOTP_SECRET))
        page.click("main form button[type=submit]")
        page.wait_for_load_state()
    assert page.locator("form[action='/accounts/logout/'] button").count() == 1, page.url
    return seen


def enrol(context: BrowserContext, page: Page, review: Review) -> set[str]:
    """Sign in as a user with no second factor, and look at where they land (the enrolment, where
    everyone must use MFA) and at the page that enrols an authenticator app."""
    context.clear_cookies()
    sign_in(page, review, NEWCOMER)
    seen = {urlsplit(page.url).path}
    look_at(page, review, "new")
    page.goto(f"{review.base}/accounts/2fa/totp/activate/")
    if urlsplit(page.url).path == "/accounts/reauthenticate/":
        # allauth asks for the password again before a second factor is added.
        look_at(page, review, "new")
        reauthenticate(page, review, "/accounts/reauthenticate/")
    seen.add(urlsplit(page.url).path)
    look_at(page, review, "new")
    return seen


@pytest.mark.browser
def test_every_page_says_what_the_answers_make_true(served: Review, tmp_path):
    review = served
    review.shots.mkdir()
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path / "profile",
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            viewport=DESKTOP,
        )
        try:
            page = context.new_page()
            page.on(
                "console",
                lambda message: review.console.append(f"{review.current}: {message.text}"),
            )
            page.on("pageerror", lambda error: review.console.append(f"{review.current}: {error}"))
            signed_out = walk(context, page, review, "out")
            signed_in = sign_in(page, review)
            signed_in |= walk(context, page, review, "in")
            if review.mfa != "none":
                signed_in |= enrol(context, page, review)
        finally:
            context.close()

    for line in review.console:
        if "Content Security Policy" in line or "Error" in line:
            path, _, message = line.partition(": ")
            review.defect(path, f"console: {message}")
    assert "csp.violation" not in (tmp_path / "runserver.log").read_text()
    # The walk reached the pages the answers promise, so that the checks above saw them.
    promised = {"/accounts/login/", MISSING} - signed_out
    if not review.open_signup:
        # The page an invited user is sent to verify an address: its words were allauth's.
        promised |= {"/accounts/confirm-email/"} - signed_out
    promised |= {"/accounts/password/change/", "/accounts/sessions/", MISSING} - signed_in
    # The admin's refusal of a user who is not staff: it was Django's bare 403.
    promised |= {f"{review.admin}login/"} - signed_in
    if review.mfa != "none":
        # Behind the reauthentication with the second factor.
        promised |= {
            "/accounts/2fa/",
            "/accounts/2fa/authenticate/",
            "/accounts/2fa/reauthenticate/",
            "/accounts/2fa/recovery-codes/",
            "/accounts/2fa/totp/activate/",
        } - signed_in
    if review.mfa == "totp_webauthn":
        promised |= {"/accounts/2fa/webauthn/", "/accounts/2fa/webauthn/add/"} - signed_in
    if review.uploads != "none":
        promised |= {"/files/"} - signed_in
    for path in sorted(promised):
        review.defect(path, "was never reached")
    assert review.defects == [], (
        f"{len(review.defects)} defects; the screenshots are in {review.shots}:\n"
        + "\n".join(review.defects)
    )
