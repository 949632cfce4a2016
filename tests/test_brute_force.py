"""End to end: concurrent password-guessing attacks on a generated project served as in production.

gunicorn with 3 workers of 8 threads each runs config.settings.prod on PostgreSQL and Redis (real
servers on loopback). 100 wrong passwords for one account arrive at once from one client address,
then the right one. The password hasher is production's Argon2 with a counter around it, so the
test sees how many guesses reached a password check: never more than the lockout's limit. Then 40
client addresses guess one account at once, a few guesses each: the right password from yet
another address no longer signs in without the code mailed to the owner.
"""

from __future__ import annotations

import email
import email.policy
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .services import create_database, live_site

pytestmark = pytest.mark.servers

ATTEMPTS = 100
LIMIT = 5
OWNER = "owner@example.org"
PASSWORD = "correct horse battery staple"  # noqa: S105 (the test account's)
ATTACKER_IP = "203.0.113.9"

COUNTING_HASHER = '''\
import os

from django.contrib.auth.hashers import Argon2PasswordHasher


class CountingArgon2PasswordHasher(Argon2PasswordHasher):
    """Production's Argon2, writing one line per password check to $PASSWORD_CHECKS_LOG."""

    def verify(self, password, encoded):
        with open(os.environ["PASSWORD_CHECKS_LOG"], "a") as log:
            log.write("check\\n")
        return super().verify(password, encoded)
'''


def prepare(project: Path, checks_log: Path) -> str:
    """Install the counting hasher in project; return the settings that select it."""
    (project / "counting_hasher.py").write_text(COUNTING_HASHER)
    checks_log.write_text("")
    return (
        'PASSWORD_HASHERS = ["counting_hasher.CountingArgon2PasswordHasher"]\n'
        f"AXES_FAILURE_LIMIT = {LIMIT}\n"
        # allauth's rate limit of 30 sign-in attempts a minute per address would answer most of
        # the attack itself; lifted here, so that what is tested is the lockout alone.
        'ACCOUNT_RATE_LIMITS = {**ACCOUNT_RATE_LIMITS, "login": "1000/m/ip"}\n'
    )


def attack(site, email: str) -> list[int]:
    """ATTEMPTS wrong passwords for email, all at once, from one client address; the answers."""
    session = site.login_form(ATTACKER_IP)
    with ThreadPoolExecutor(max_workers=ATTEMPTS) as pool:
        answers = pool.map(
            lambda n: site.sign_in(ATTACKER_IP, email, f"guess number {n}", session).status,
            range(ATTEMPTS),
        )
        return list(answers)


def test_a_concurrent_attack_is_locked_out_at_the_limit(
    generate, project_python, postgres, redis, tmp_path
):
    project = generate()
    checks_log = tmp_path / "password-checks.log"
    settings = prepare(project, checks_log)
    database = create_database(project_python, postgres, "brute_force")

    environ = {"PASSWORD_CHECKS_LOG": str(checks_log)}
    with live_site(project, project_python, database, f"{redis}/9", settings, environ) as site:
        site.create_account(OWNER, PASSWORD)
        checks_log.write_text("")

        answers = attack(site, OWNER)
        checks = len(checks_log.read_text().splitlines())

        refused = site.sign_in(ATTACKER_IP, OWNER, PASSWORD, site.login_form(ATTACKER_IP))
        owner = site.sign_in("198.51.100.7", OWNER, PASSWORD, site.login_form("198.51.100.7"))
        log = site.log.read_text()

    summary = f"{checks} password checks; answers {sorted(answers)}; server log:\n{log[-3000:]}"
    assert set(answers) <= {200, 429}, summary
    assert 1 <= checks <= LIMIT, summary
    assert answers.count(200) < LIMIT, summary
    # Locked: the right password from the attacker's address is refused, without a check.
    assert refused.status == 429, summary
    assert "Too many sign-in attempts" in refused.body
    assert len(checks_log.read_text().splitlines()) == checks + 1, "only the owner's was checked"
    # The owner, elsewhere, signs in.
    assert owner.status == 302, summary
    assert owner.headers["location"] == "/"


BOTNET = 40
CODE_STEP = "/accounts/login/code/confirm/"
# allauth's login codes: eight letters without vowels, in two groups.
LOGIN_CODE = re.compile(r"^([B-DF-HJ-NP-TV-XZ]{4}-[B-DF-HJ-NP-TV-XZ]{4})$", re.MULTILINE)


def mails(folder: Path) -> list[email.message.EmailMessage]:
    """The messages Django's file backend wrote into folder."""
    found = []
    for path in sorted(folder.glob("*.log")):
        for raw in path.read_bytes().split(b"-" * 79 + b"\n"):
            if raw.strip():
                found.append(email.message_from_bytes(raw.lstrip(), policy=email.policy.default))
    return found


def text(message: email.message.EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def test_many_addresses_guessing_one_account_make_it_need_the_mailed_code(
    generate, project_python, postgres, redis, tmp_path
):
    project = generate()
    checks_log = tmp_path / "password-checks.log"
    outbox = tmp_path / "mail"
    settings = prepare(project, checks_log) + (
        # The site's mail, in files the test reads; production's defaults for the account guard.
        "MAILERS = {\n"
        '    "default": {\n'
        '        "BACKEND": "django.core.mail.backends.filebased.EmailBackend",\n'
        f'        "OPTIONS": {{"file_path": {str(outbox)!r}}},\n'
        "    }\n"
        "}\n"
    )
    database = create_database(project_python, postgres, "botnet")

    environ = {"PASSWORD_CHECKS_LOG": str(checks_log), "DJANGO_ADMINS": "ops@example.org"}
    with live_site(project, project_python, database, f"{redis}/10", settings, environ) as site:
        site.create_account(OWNER, PASSWORD)
        checks_log.write_text("")
        session = site.login_form(ATTACKER_IP)

        def guesses(bot: int) -> list[int]:
            address = f"203.0.113.{bot + 1}"
            return [
                site.sign_in(address, OWNER, f"guess {bot}-{n}", session).status
                for n in range(LIMIT + 1)
            ]

        with ThreadPoolExecutor(max_workers=BOTNET) as pool:
            answers = [status for bot in pool.map(guesses, range(BOTNET)) for status in bot]
        checks = len(checks_log.read_text().splitlines())

        # The right password, from an address that never guessed.
        newcomer = "198.51.100.23"
        form_cookies, token = site.login_form(newcomer)
        password_only = site.sign_in(newcomer, OWNER, PASSWORD, (form_cookies, token))
        cookies = {**form_cookies, **password_only.cookies}
        without_code = site.request("GET", "/accounts/email/", newcomer, cookies=cookies)
        # Together the addresses guessed the account far past its limit: the password alone is
        # not enough any more.
        assert password_only.status == 302, site.log.read_text()[-3000:]
        assert password_only.headers["location"] == CODE_STEP, site.log.read_text()[-3000:]

        [code_mail] = [message for message in mails(outbox) if "Code" in message["subject"]]
        code = LOGIN_CODE.search(text(code_mail)).group(1)
        with_code = site.request(
            "POST",
            CODE_STEP,
            newcomer,
            form={"code": code, "csrfmiddlewaretoken": token},
            cookies=cookies,
        )
        cookies.update(with_code.cookies)
        signed_in = site.request("GET", "/accounts/email/", newcomer, cookies=cookies)
        log = site.log.read_text()
    sent = mails(outbox)

    summary = f"{checks} password checks; answers {sorted(set(answers))}; log:\n{log[-3000:]}"
    # Each address was stopped by the lockout at its limit...
    assert set(answers) <= {200, 429}, summary
    assert answers.count(200) >= BOTNET, summary
    assert BOTNET <= checks <= BOTNET * LIMIT, summary
    # ... and signing in with the right password alone did not sign in.
    assert without_code.status == 302, summary
    assert without_code.headers["location"].startswith("/accounts/login/"), summary
    assert code_mail["to"] == OWNER
    # With the code mailed to the owner, the sign-in completes.
    assert with_code.status == 302, summary
    assert with_code.headers["location"] == "/", summary
    assert signed_in.status == 200, summary
    # The owner was told, once, and the admins alerted; the log names the event.
    notices = [message for message in sent if "guess your password" in message["subject"]]
    assert [message["to"] for message in notices] == [OWNER]
    alerts = [message for message in sent if "login.account_under_attack" in message["subject"]]
    assert [message["to"] for message in alerts] == ["ops@example.org"]
    assert "login.account_under_attack" in log
    # So many failed sign-ins across the site alert too: password spraying looks like this.
    spraying = [message for message in sent if message["subject"].endswith("login.failed")]
    assert [message["to"] for message in spraying] == ["ops@example.org"]
