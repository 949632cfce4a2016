"""In a real browser: the generated project's pages work under its Content Security Policy.

Debian's Chromium, headless (--no-sandbox --disable-gpu --disable-background-networking, an empty
profile), driven by Playwright, goes through the home page, the sign-in, the enrolment of an
authenticator app that staff must have, the admin index, a change form whose JavaScript must run,
and the upload page, where a file is chosen, uploaded, listed and downloaded.
Every violation shows twice: Chromium writes it to the console, and sends a report to the project's
/csp-report/ endpoint. The test collects both, and there must be none.

The project runs under `manage.py runserver` with its development settings, which keep the policy
of the base settings.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import shutil
import struct
import subprocess
import time

import pytest
from playwright.sync_api import sync_playwright

from .services import runserver

CHROMIUM = shutil.which("chromium")
STAFF = "staff@example.org"
PASSWORD = "correct horse battery staple"  # noqa: S105 (the test account's)

# A 1x1 PNG, which the upload pipeline accepts and re-encodes.
PNG_PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
)

CREATE_STAFF = f"""
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model

# create_user: create_superuser holds the password to the validators, whose breach check would
# ask the Pwned Passwords service (not reachable from the tests) about a famous passphrase.
user = get_user_model().objects.create_user(
    {STAFF!r}, {PASSWORD!r}, is_staff=True, is_superuser=True
)
EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
"""


def totp(secret: str, at: float | None = None) -> str:
    """The code an authenticator app shows for secret (RFC 6238: SHA-1, 30 s, 6 digits)."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    counter = struct.pack(">Q", int((time.time() if at is None else at) // 30))
    digest = hmac.new(key, counter, hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    return f"{(struct.unpack('>I', digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


def test_totp_matches_rfc_6238():
    # RFC 6238, appendix B: the SHA-1 secret "12345678901234567890" at 59 s gives 94287082.
    secret = base64.b32encode(b"12345678901234567890").decode()
    assert totp(secret, at=59) == "287082"


@pytest.fixture
def served_project(generate, project_python, tmp_path):
    if CHROMIUM is None:
        pytest.fail("Chromium is not installed (Debian: chromium; .ci/run installs it)")
    project = generate()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.dev"}
    for command in (["migrate", "--noinput"], ["shell", "-c", CREATE_STAFF]):
        done = subprocess.run(
            [project_python, "manage.py", *command],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    log = tmp_path / "runserver.log"
    with runserver(project_python, project, env, log) as address:
        yield address, log


@pytest.mark.browser
def test_the_pages_work_under_the_policy_in_chromium(served_project, tmp_path):
    base, server_log = served_project
    console = []

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            tmp_path / "profile",
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                # Reports of the Reporting API leave at once instead of in a minute.
                "--short-reporting-delay",
            ],
        )
        try:
            page = browser.new_page()
            page.on("console", lambda message: console.append(message.text))

            page.goto(f"{base}/")
            assert page.locator("h1").inner_text() == "My Site"

            page.goto(f"{base}/accounts/login/")
            page.fill("input[name=login]", STAFF)
            page.fill("input[name=password]", PASSWORD)
            page.click("main form button[type=submit]")
            page.wait_for_load_state()

            # Staff must enrol a second factor before anything else, after confirming the
            # password again.
            page.goto(f"{base}/accounts/2fa/totp/activate/")
            assert "/accounts/reauthenticate/" in page.url
            page.fill("input[name=password]", PASSWORD)
            page.click("main form button[type=submit]")
            page.wait_for_load_state()
            secret = page.input_value("#authenticator_secret")
            assert page.locator("img[src^='data:image/svg+xml']").count() == 1
            page.fill("input[name=code]", totp(secret))
            page.click("main form button[type=submit]")
            page.wait_for_load_state()

            page.goto(f"{base}/backoffice/")
            assert page.locator("body").inner_text().count("Site administration") >= 1

            page.goto(f"{base}/backoffice/accounts/user/1/change/")
            # The admin's JavaScript ran: SelectFilter2.js turns the groups and permissions
            # lists into two-pane filters, and theme.js marks the page with its colour theme.
            page.wait_for_selector(".selector-available", timeout=10_000)
            assert page.locator(".selector-chooseall").count() >= 1
            assert page.locator("html[data-theme]").count() == 1

            # The upload page: a real file chosen in the form, stored, listed and downloaded.
            picture = tmp_path / "holiday.png"
            picture.write_bytes(PNG_PIXEL)
            page.goto(f"{base}/files/")
            page.set_input_files("input[type=file]", str(picture))
            page.click("main form button[type=submit]")
            page.wait_for_load_state()
            assert page.locator("table.files a").inner_text() == "holiday.png"
            with page.expect_download() as download:
                page.click("table.files a")
            assert download.value.suggested_filename == "holiday.png"

            # Reports are sent in the background; give them a moment to arrive.
            page.wait_for_timeout(1000)
            violations = [text for text in console if "Content Security Policy" in text]
            assert violations == [], violations
            assert "csp.violation" not in server_log.read_text()

            # An injected inline script is blocked, and its report reaches the security log.
            page.evaluate(
                "document.body.appendChild(Object.assign("
                "document.createElement('script'), {textContent: 'window.injected = 1'}))"
            )
            assert page.evaluate("window.injected") is None
            deadline = time.monotonic() + 15
            while "csp.violation" not in server_log.read_text() and time.monotonic() < deadline:
                page.wait_for_timeout(100)
        finally:
            browser.close()

    [logged] = [line for line in server_log.read_text().splitlines() if "csp.violation" in line]
    assert "blocked=inline" in logged
    assert "directive=script-src-elem" in logged
