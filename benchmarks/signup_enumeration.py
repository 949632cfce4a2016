"""Benchmark: can the sign-up form tell an address that has an account from one that has none?

Generates a project with open sign-up, then, inside it, on PostgreSQL (whose commit of a new
account is part of the cost) with production's Argon2id hasher, signs up in one interleaved run:
an address that has an account, a new address, and each of the two again (a repeated attempt:
allauth sends at most one confirmation mail per address in 3 minutes). For each it compares the
status, the cookies set, the page the browser is sent to, the mail sent and the time (median and
its 95% interval); the ratio of the medians is the figure that matters. With --write, it rewrites
the "signup-enumeration" block of docs/performance.md.

    .venv/bin/python benchmarks/signup_enumeration.py [--runs 60] [--write docs/performance.md]
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
from datetime import date
from pathlib import Path

import copier
from common import find_project_python, median_interval, run, run_in_project

from tests.helpers import copy_template
from tests.services import create_database, postgres_server

# Runs inside the generated project, with its settings and its virtualenv.
INNER = r"""
import json, re, sys, time
import django
django.setup()
from django.conf import settings
from django.core import mail
from django.core.cache import cache
from django.core.management import call_command
from django.test.utils import setup_test_environment
setup_test_environment()
call_command("migrate", verbosity=0)
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from tests.conftest import PASSWORD, HttpsClient

settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
runs = int(sys.argv[1])


def sign_up(email, client_ip):
    client = HttpsClient(REMOTE_ADDR=client_ip)
    mail.outbox = []
    start = time.perf_counter()
    response = client.post(
        "/accounts/signup/", {"email": email, "password1": PASSWORD, "password2": PASSWORD}
    )
    elapsed = time.perf_counter() - start
    shown = client.get(response["Location"]) if response.status_code == 302 else response
    page = shown.content.decode().replace(email, "ADDRESS")
    page = re.sub(r'(nonce|value)="[^"]*"', "", page)
    return {
        "status": response.status_code,
        "location": response.get("Location"),
        "cookies": sorted(response.cookies),
        "session": sorted(client.session.keys()),
        "page": page,
        "mails": len(mail.outbox),
        "seconds": elapsed,
    }


results = {"taken": [], "new": [], "taken again": [], "new again": []}
for attempt in range(runs + 2):
    user = get_user_model().objects.create_user(f"taken{attempt}@example.org", PASSWORD)
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
    # Alternate which goes first, so that neither always runs on a warmer process.
    kinds = ("taken", "new") if attempt % 2 else ("new", "taken")
    for number, kind in enumerate(kinds):
        email = f"{kind}{attempt}@example.org"
        for again, suffix in ((0, ""), (2, " again")):
            client_ip = f"198.51.{attempt % 250}.{number + again + 1}"
            results[kind + suffix].append(sign_up(email, client_ip))
    cache.clear()  # the rate limits per client address, so that only the address's own count
for kind, answers in results.items():
    answers[:] = answers[2:]  # the first attempts warm caches
summary = {}
for kind, answers in results.items():
    summary[kind] = {
        "seconds": [answer["seconds"] for answer in answers],
        **{
            field: sorted({json.dumps(answer[field]) for answer in answers})
            for field in ("status", "location", "cookies", "session", "page", "mails")
        },
    }
print(json.dumps(summary))
"""


def measure(runs: int) -> dict:
    with tempfile.TemporaryDirectory() as scratch, postgres_server() as server:
        src = copy_template(Path(scratch) / "template")
        project = Path(scratch) / "project"
        copier.run_copy(
            str(src), project, data={"open_signup": True}, defaults=True, unsafe=True, quiet=True
        )
        python = find_project_python()
        database = create_database(python, server, "signup_enumeration")
        return run_in_project(
            project,
            INNER,
            [str(runs)],
            {
                "DJANGO_SETTINGS_MODULE": "config.settings.test",
                "TEST_DATABASE_URL": database,
                "PATH": os.environ["PATH"],
            },
        )


def table(results: dict, runs: int) -> str:
    def same(field: str, first: str, second: str) -> str:
        answers = results[first][field], results[second][field]
        return "same" if answers[0] == answers[1] and len(answers[0]) == 1 else "DIFFERENT"

    lines = [
        f"Measured {date.today()} on {platform.machine()}, PostgreSQL, {runs} sign-ups of each "
        "kind, interleaved.",
        "",
        "| sign-up | median | 95% interval of the median | mails sent |",
        "| --- | --- | --- | --- |",
    ]
    for kind, answers in results.items():
        median, low, high = median_interval(answers["seconds"])
        label = kind.replace(" again", " address, again") if "again" in kind else f"{kind} address"
        mails = ", ".join(answers["mails"])
        lines.append(
            f"| {label} | {median * 1000:.0f} ms | {low * 1000:.0f}-{high * 1000:.0f} ms "
            f"| {mails} |"
        )
    lines.append("")
    for first, second in (("taken", "new"), ("taken again", "new again")):
        ratio = (
            median_interval(results[second]["seconds"])[0]
            / median_interval(results[first]["seconds"])[0]
        )
        checks = ", ".join(
            f"{field} {same(field, first, second)}"
            for field in ("status", "location", "cookies", "session", "page", "mails")
        )
        lines.append(f"- {first} against {second}: time ratio {ratio:.2f}; {checks}.")
    return "\n".join(lines)


def main() -> int:
    return run(
        __doc__.splitlines()[0], "signup-enumeration", 60, lambda runs: table(measure(runs), runs)
    )


if __name__ == "__main__":
    sys.exit(main())
