"""Benchmark: what a sign-in costs with the generated project's Argon2id hasher.

Generates a project with the defaults, then, inside it, times full sign-ins through the login form
(Django's test client, the real hasher, MFA off and with a TOTP step) against the same sign-ins
with PBKDF2 (Django's default hasher) in the same run, and measures the peak memory of one Argon2
hash in a fresh process. With --write, it rewrites the "login" table of docs/performance.md.
Budget: median under 150 ms.

    .venv/bin/python benchmarks/login.py [--runs 30] [--write docs/performance.md]
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
from datetime import date
from pathlib import Path

import copier
from common import run, run_in_project

from tests.helpers import copy_template

BUDGET_MS = 150

# Runs inside the generated project, with its settings and its virtualenv.
INNER = r"""
import json, os, statistics, subprocess, sys, time
import django
django.setup()
from django.conf import settings
from django.core.cache import cache
from django.core.management import call_command
from django.test.utils import setup_test_environment
setup_test_environment()
call_command("migrate", verbosity=0)
from tests.conftest import HttpsClient, enroll_totp, sign_in, PASSWORD
from django.contrib.auth import get_user_model
from allauth.account.models import EmailAddress

HASHERS = {
    "project": ["django.contrib.auth.hashers.Argon2PasswordHasher"],
    "pbkdf2": ["django.contrib.auth.hashers.PBKDF2PasswordHasher"],
}
runs = int(sys.argv[1])
results = {}
for name, hashers in HASHERS.items():
    settings.PASSWORD_HASHERS = hashers
    for mfa in (False, True):
        email = f"{name}-{mfa}@example.org"
        user = get_user_model().objects.create_user(email, PASSWORD)
        EmailAddress.objects.create(user=user, email=email, primary=True, verified=True)
        if mfa:
            enroll_totp(user)
        timings = []
        for _ in range(runs + 2):
            cache.clear()  # used TOTP codes and rate limits
            client = HttpsClient()
            start = time.perf_counter()
            response = sign_in(client, email)
            timings.append(time.perf_counter() - start)
            assert response.status_code == 302, response.status_code
        timings = sorted(timings[2:])  # the first sign-ins warm caches
        results[f"{name}/{'mfa' if mfa else 'password'}"] = {
            "median_ms": statistics.median(timings) * 1000,
            "p95_ms": timings[int(len(timings) * 0.95) - 1] * 1000,
        }
# Failed sign-ins for an address with an account and for one without, interleaved: an attacker
# must not tell them apart by the time of the answer (Django's dummy hash for unknown users).
settings.PASSWORD_HASHERS = HASHERS["project"]
failed = {"known": [], "unknown": []}
for attempt in range(runs + 2):
    for kind, email in (("known", "project-False@example.org"), ("unknown", "nobody@example.org")):
        cache.clear()
        client = HttpsClient(REMOTE_ADDR=f"198.51.100.{attempt % 250 + 1}")
        start = time.perf_counter()
        response = client.post("/accounts/login/", {"login": email, "password": "wrong password"})
        failed[kind].append(time.perf_counter() - start)
        assert response.status_code == 200, response.status_code
for kind, timings in failed.items():
    results[f"failed/{kind}"] = {"median_ms": statistics.median(timings[2:]) * 1000}
from django.utils.module_loading import import_string
for name, hashers in list(HASHERS.items())[:1]:
    # Peak memory of one hash, in a fresh process that holds nothing else: the growth of its peak
    # resident size across the hash, with the hasher's own parameters.
    hasher = import_string(hashers[0])
    # VmHWM, not ru_maxrss: the latter carries the parent's peak across fork and exec.
    code = (
        "import re, sys, argon2;"
        "hwm = lambda: int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1]);"
        "h = argon2.PasswordHasher(time_cost=int(sys.argv[1]), memory_cost=int(sys.argv[2]),"
        " parallelism=int(sys.argv[3]), type=argon2.Type.ID);"
        "before = hwm(); h.hash('correct horse battery staple'); print(hwm() - before)"
    )
    parameters = [str(hasher.time_cost), str(hasher.memory_cost), str(hasher.parallelism)]
    grown = subprocess.run(
        [sys.executable, "-c", code, *parameters], capture_output=True, text=True, check=True
    )
    results[f"{name}/hash-peak-memory"] = {"MiB": int(grown.stdout) / 1024}
print(json.dumps(results))
"""

SETTINGS_SHIM = """
import json, os
from config.settings.test import *  # noqa
PASSWORD_HASHERS = json.loads(os.environ.get("DJANGO_TEST_HASHERS", "[]")) or PASSWORD_HASHERS
"""


def measure(runs: int) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        src = copy_template(Path(scratch) / "template")
        project = Path(scratch) / "project"
        copier.run_copy(str(src), project, defaults=True, unsafe=True, quiet=True)
        (project / "config" / "settings" / "bench.py").write_text(SETTINGS_SHIM)
        return run_in_project(
            project,
            INNER,
            [str(runs)],
            {"DJANGO_SETTINGS_MODULE": "config.settings.bench", "PATH": os.environ["PATH"]},
        )


def table(results: dict, runs: int) -> str:
    def row(label: str, key: str) -> str:
        ours, django = results[f"project/{key}"], results[f"pbkdf2/{key}"]
        return (
            f"| {label} | {ours['median_ms']:.0f} ms | {ours['p95_ms']:.0f} ms "
            f"| {django['median_ms']:.0f} ms | {django['p95_ms']:.0f} ms "
            f"| {ours['median_ms'] / django['median_ms']:.2f} |"
        )

    ours_mem = results["project/hash-peak-memory"]["MiB"]
    known = results["failed/known"]["median_ms"]
    unknown = results["failed/unknown"]["median_ms"]
    median = results["project/password"]["median_ms"]
    verdict = "within" if median < BUDGET_MS else "OVER"
    return "\n".join(
        [
            f"Measured {date.today()} on {platform.machine()}, {runs} sign-ins each.",
            "",
            "| sign-in | Argon2id median | Argon2id p95 | PBKDF2 median | PBKDF2 p95 | ratio |",
            "| --- | --- | --- | --- | --- | --- |",
            row("password only", "password"),
            row("password + TOTP", "mfa"),
            "",
            f"Peak memory of one Argon2id hash: {ours_mem:.0f} MiB. Budget: median under "
            f"{BUDGET_MS} ms ({verdict}).",
            "",
            f"A failed sign-in takes {known:.0f} ms (median) for an address with an account and "
            f"{unknown:.0f} ms for one without\n(ratio {unknown / known:.2f}): Django's dummy "
            "hash for unknown addresses costs what a real check does, so the time does not tell "
            "them apart.",
        ]
    )


def main() -> int:
    return run(__doc__.splitlines()[0], "login", 30, lambda runs: table(measure(runs), runs))


if __name__ == "__main__":
    sys.exit(main())
