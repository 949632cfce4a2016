"""Benchmark: how many sign-ins a second 3 workers serve before the latency doubles.

Generates a project with the defaults and serves it as production does (gunicorn, 3 workers of 8
threads, config.settings.prod with its Argon2id hasher, PostgreSQL and Redis on loopback). Then it
signs in with 1, 2, 3, ... clients at once, each sign-in a fresh client address and account so that
no rate limit or lockout comes into play, and reports per level the sign-ins a second and the median
and p95 of the login POST. The capacity is the busiest level whose median stays within twice the
median of a single client.

    .venv/bin/python benchmarks/login_load.py [--runs 24] [--write docs/performance.md]

--runs is the number of sign-ins per client at each level.
"""

from __future__ import annotations

import platform
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from itertools import count
from pathlib import Path

import copier
from common import find_project_python, p95, run

from tests.helpers import copy_template
from tests.services import create_database, live_site, postgres_server, redis_server
from tests.test_brute_force import PASSWORD

LEVELS = [1, 2, 3, 4, 6, 8, 12]
ACCOUNTS = 200

CREATE_ACCOUNTS = f"""
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password

User = get_user_model()
hashed = make_password({PASSWORD!r})
users = User.objects.bulk_create(
    User(email=f"load{{n}}@example.org", password=hashed) for n in range({ACCOUNTS})
)
EmailAddress.objects.bulk_create(
    EmailAddress(user=user, email=user.email, primary=True, verified=True) for user in users
)
"""


def level(site, clients: int, per_client: int, addresses: count) -> tuple[float, list[float]]:
    """Sign-ins a second and the POST latencies, with `clients` signing in at once."""
    lock = threading.Lock()

    def next_address() -> int:
        with lock:
            return next(addresses)

    def client(_: int) -> list[float]:
        latencies = []
        for _ in range(per_client):
            n = next_address()
            client_ip = f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"
            session = site.login_form(client_ip)
            start = time.perf_counter()
            answer = site.sign_in(client_ip, f"load{n % ACCOUNTS}@example.org", PASSWORD, session)
            latencies.append(time.perf_counter() - start)
            if answer.status != 302:
                sys.exit(f"a sign-in answered {answer.status}: {answer.body[:300]}")
        return latencies

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        latencies = [latency for batch in pool.map(client, range(clients)) for latency in batch]
    return len(latencies) / (time.perf_counter() - start), latencies


def report(per_client: int) -> str:
    python = find_project_python()
    results = {}
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        project = scratch / "project"
        template = copy_template(scratch / "template")
        copier.run_copy(str(template), project, defaults=True, unsafe=True, quiet=True)
        with postgres_server() as postgres, redis_server(scratch) as redis:
            database = create_database(python, postgres, "login_load")
            with live_site(project, python, database, f"{redis}/1") as site:
                created = site.manage("shell", "-c", CREATE_ACCOUNTS)
                if created.returncode != 0:
                    sys.exit(created.stderr)
                addresses = count(1)
                level(site, 2, 3, addresses)  # warm the workers
                for clients in LEVELS:
                    results[clients] = level(site, clients, per_client, addresses)
    single = statistics.median(results[1][1])
    within = [clients for clients in LEVELS if statistics.median(results[clients][1]) <= 2 * single]
    capacity = max(results[clients][0] for clients in within)
    return "\n".join(
        [
            f"Measured {date.today()} on {platform.machine()}, {per_client} sign-ins per client "
            "at each level (the login POST: Argon2id, session, axes and rate-limit checks).",
            "",
            "| clients at once | sign-ins/s | median | p95 |",
            "| --- | --- | --- | --- |",
            *(
                f"| {clients} | {rate:.1f} | {statistics.median(times) * 1000:.0f} ms "
                f"| {p95(times) * 1000:.0f} ms |"
                for clients, (rate, times) in results.items()
            ),
            "",
            f"Capacity before the median doubles ({single * 2000:.0f} ms): about {capacity:.1f} "
            f"sign-ins a second, with {max(within)} clients at once.",
        ]
    )


def main() -> int:
    return run(__doc__.splitlines()[0], "login-load", 24, report)


if __name__ == "__main__":
    sys.exit(main())
