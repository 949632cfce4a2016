"""End to end: a concurrent password-guessing attack on a generated project served as in production.

gunicorn with 3 workers of 8 threads each runs config.settings.prod on PostgreSQL and Redis (real
servers on loopback). 100 wrong passwords for one account arrive at once from one client address,
then the right one. The password hasher is production's Argon2 with a counter around it, so the
test sees how many guesses reached a password check: never more than the lockout's limit.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .services import create_database, live_site

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
