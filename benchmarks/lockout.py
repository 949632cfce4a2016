"""Benchmark: the lockout under a concurrent attack, and what its checks add to a sign-in.

Generates a project with the defaults and serves it as production does (gunicorn, 3 workers of 8
threads, config.settings.prod, PostgreSQL and Redis from Debian's packages on loopback):

1. 100 wrong passwords for one account from one client address, all at once, against the
   project's lockout and against django-axes' own database handler alone: how many reached a
   password check. The limit is 5.
2. Successful sign-ins (the login form's POST) with the lockout and the rate limits, and without
   them, alternating between the two servers in one run: median, p95 and the difference. Both
   servers use the MD5 hasher, so the figures isolate the checks from Argon2's ~100 ms.

With --write, it rewrites the "lockout" block of docs/performance.md.

    .venv/bin/python benchmarks/lockout.py [--runs 5] [--write docs/performance.md]
"""

from __future__ import annotations

import platform
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import date
from pathlib import Path

import copier
from common import find_project_python, p95, run

from tests.helpers import copy_template
from tests.services import create_database, live_site, postgres_server, redis_server
from tests.test_brute_force import LIMIT, PASSWORD, attack, prepare

AXES_ALONE = 'AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"\n'
WITHOUT_CHECKS = """
AUTHENTICATION_BACKENDS = ["allauth.account.auth_backends.AuthenticationBackend"]
MIDDLEWARE = [m for m in MIDDLEWARE if "axes" not in m and "LoginPlaces" not in m]
ACCOUNT_RATE_LIMITS = False
"""
# The checks stay on; only the hasher changes, and the rate limit that 60 sign-ins would meet.
FAST_HASHER = """
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
"""
SIGN_INS = 60


def generate(folder: Path) -> Path:
    project = folder / "project"
    copier.run_copy(
        str(copy_template(folder / "template")), project, defaults=True, unsafe=True, quiet=True
    )
    return project


def password_checks(
    folder: Path, python: Path, postgres: str, redis: str, variant: str, runs: int
) -> list[int]:
    """For each of `runs` attacks on a fresh account, the guesses that reached a check."""
    project = generate(folder)
    log = folder / "password-checks.log"
    settings = prepare(project, log) + variant
    database = create_database(python, postgres, folder.name)
    environ = {"PASSWORD_CHECKS_LOG": str(log)}
    counts = []
    with live_site(project, python, database, redis, settings, environ) as site:
        for number in range(runs):
            email = f"owner{number}@example.org"
            site.create_account(email, PASSWORD)
            log.write_text("")
            attack(site, email)
            counts.append(len(log.read_text().splitlines()))
    return counts


def sign_in_times(scratch: Path, python: Path, postgres: str, redis: str) -> dict[str, list[float]]:
    """Seconds per successful sign-in POST, with the checks and without, interleaved."""
    variants = {"with": FAST_HASHER, "without": FAST_HASHER + WITHOUT_CHECKS}
    times: dict[str, list[float]] = {name: [] for name in variants}
    with ExitStack() as stack:
        sites = {}
        for number, (name, settings) in enumerate(variants.items()):
            folder = scratch / f"sign-in-{name}"
            folder.mkdir()
            project = generate(folder)
            database = create_database(python, postgres, f"sign_in_{name}")
            sites[name] = stack.enter_context(
                live_site(project, python, database, f"{redis}/{10 + number}", settings)
            )
            sites[name].create_account("owner@example.org", PASSWORD)
        for attempt in range(SIGN_INS + 5):
            # A different client address each time keeps the rate limits out of the figures.
            client_ip = f"198.51.{attempt // 250}.{attempt % 250 + 1}"
            for name, site in sites.items():
                session = site.login_form(client_ip)
                start = time.perf_counter()
                answer = site.sign_in(client_ip, "owner@example.org", PASSWORD, session)
                elapsed = time.perf_counter() - start
                if answer.status != 302:
                    sys.exit(f"sign-in {name} answered {answer.status}: {answer.body[:300]}")
                if attempt >= 5:  # the first ones warm the workers
                    times[name].append(elapsed)
    return times


def report(runs: int) -> str:
    python = find_project_python()
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        with postgres_server() as postgres, redis_server(scratch) as redis:
            checks = {}
            for number, (name, variant) in enumerate([("project", ""), ("axes-alone", AXES_ALONE)]):
                folder = scratch / f"attack_{name.replace('-', '_')}"
                folder.mkdir()
                checks[name] = password_checks(
                    folder, python, postgres, f"{redis}/{number + 1}", variant, runs
                )
            times = sign_in_times(scratch, python, postgres, redis)
    with_ms = statistics.median(times["with"]) * 1000
    without_ms = statistics.median(times["without"]) * 1000
    return "\n".join(
        [
            f"Measured {date.today()} on {platform.machine()} ({runs} attacks of 100 guesses "
            f"each; {SIGN_INS} sign-ins per server).",
            "",
            f"| 100 concurrent guesses, limit {LIMIT} | password checks reached (each attack) "
            "| most |",
            "| --- | --- | --- |",
            f"| the project's lockout | {', '.join(map(str, checks['project']))} "
            f"| {max(checks['project'])} |",
            f"| django-axes' database handler alone | {', '.join(map(str, checks['axes-alone']))} "
            f"| {max(checks['axes-alone'])} |",
            "",
            "| successful sign-in (MD5 hasher) | median | p95 |",
            "| --- | --- | --- |",
            f"| with lockout and rate limits | {with_ms:.1f} ms "
            f"| {p95(times['with']) * 1000:.1f} ms |",
            f"| without them | {without_ms:.1f} ms | {p95(times['without']) * 1000:.1f} ms |",
            f"| added by the checks | {with_ms - without_ms:+.1f} ms "
            f"({with_ms / without_ms:.2f}x) | |",
        ]
    )


def main() -> int:
    return run(__doc__.splitlines()[0], "lockout", 5, report)


if __name__ == "__main__":
    sys.exit(main())
