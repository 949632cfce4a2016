"""Benchmark: what the hardening costs a request, against a vanilla Django project.

Generates a project with the defaults and serves it as production does (gunicorn, 3 workers of 8
threads, config.settings.prod with every middleware, PostgreSQL and Redis from Debian's packages
on loopback), and serves a vanilla `django-admin startproject` (DEBUG off, otherwise Django's
defaults) from the same virtualenv with the same gunicorn settings. Both answer GET /bench/ with
the same trivial view ("ok", text/plain). wrk (Debian's package) loads each in turn on loopback,
with the headers the TLS proxy would add, alternating between the two for --runs rounds; it prints
the median requests per second and p99 latency of each, and the ratio of the throughputs. wrk runs
on the same cores as the servers, so the figures are for comparing, not for capacity planning.
Budget: the project serves at least 90% of vanilla's requests per second.

With --write, it rewrites the "requests" block of docs/performance.md.

    .venv/bin/python benchmarks/requests.py [--runs 5] [--write docs/performance.md]
"""

from __future__ import annotations

import http.client
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import NoReturn

import copier
from common import find_project_python, run

from tests.helpers import copy_template, free_port
from tests.services import (
    create_database,
    gunicorn,
    live_site,
    postgres_server,
    project_bin,
    redis_server,
)

BUDGET = 0.90
WORKERS = 3
THREADS = 8
WRK_OPTIONS = ["--threads=2", "--connections=16", "--latency"]
DURATION = "10s"
WARM_UP = "3s"
HOST = "www.example.com"
# What the TLS proxy in front adds (LiveSite.request): without them the project answers 301 (to
# HTTPS) or 400 (a Host not in ALLOWED_HOSTS) instead of running the view.
HEADERS = {"Host": HOST, "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
HINTS = {
    301: "a redirect to HTTPS: the X-Forwarded-Proto header did not arrive",
    400: f"a bad request: is {HOST} in ALLOWED_HOSTS and sent as Host?",
    404: "no /bench/ URL: the bench_urls module is not the ROOT_URLCONF",
}

# The view under test, before the project's own URLs; {urls} is the project's URL module.
BENCH_URLS = '''"""GET /bench/ for benchmarks/requests.py, before the project's own URLs."""

from django.http import HttpResponse
from django.urls import path

from {urls} import urlpatterns as project_urlpatterns


def bench(request):
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [path("bench/", bench), *project_urlpatterns]
'''
VANILLA_SETTINGS = f"""
DEBUG = False
ALLOWED_HOSTS = ["{HOST}"]
ROOT_URLCONF = "bench_urls"
"""

# wrk's summary: throughput, the 99th percentile of --latency, and the failures it counts.
REQUESTS_PER_SECOND = re.compile(r"^Requests/sec:\s+([\d.]+)\s*$", re.M)
P99 = re.compile(r"^\s+99%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.M)
TIME_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
NOT_2XX_3XX = re.compile(r"^\s+Non-2xx or 3xx responses:\s+(\d+)\s*$", re.M)
SOCKET_ERRORS = re.compile(r"^\s+Socket errors:(.*)$", re.M)


@dataclass
class Server:
    name: str
    port: int
    log: Path


@dataclass
class Load:
    requests_per_second: float
    p99_seconds: float


def generate(folder: Path) -> Path:
    project = folder / "project"
    copier.run_copy(
        str(copy_template(folder / "template")), project, defaults=True, unsafe=True, quiet=True
    )
    (project / "bench_urls.py").write_text(BENCH_URLS.format(urls="config.urls"))
    return project


def start_vanilla(folder: Path, python: Path) -> Path:
    """`django-admin startproject vanilla`, with the /bench/ view and production's DEBUG off."""
    folder.mkdir()
    made = subprocess.run(
        [project_bin(python, "django-admin"), "startproject", "vanilla", folder],
        capture_output=True,
        text=True,
        check=False,
    )
    if made.returncode != 0:
        sys.exit(f"django-admin startproject failed:\n{made.stderr}")
    with (folder / "vanilla" / "settings.py").open("a") as settings:
        settings.write(VANILLA_SETTINGS)
    (folder / "bench_urls.py").write_text(BENCH_URLS.format(urls="vanilla.urls"))
    return folder


@contextmanager
def vanilla_site(project: Path, python: Path) -> Iterator[Server]:
    """Serve the vanilla project with live_site's gunicorn command and environment."""
    server = Server("vanilla", free_port(), project / "gunicorn.log")
    env = {"DJANGO_SETTINGS_MODULE": "vanilla.settings", "PYTHONDONTWRITEBYTECODE": "1"}
    with gunicorn(project, python, "vanilla.wsgi", server.port, server.log, env, WORKERS, THREADS):
        yield server


def fail(server: Server, problem: str) -> NoReturn:
    log = server.log.read_text()[-2000:]
    sys.exit(f"{server.name}: {problem}\nThe end of its gunicorn log:\n{log}")


def check_answer(server: Server) -> None:
    """One GET /bench/ with wrk's headers must get the view's 200 "ok"."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request("GET", "/bench/", headers=HEADERS)
        answer = connection.getresponse()
        body = answer.read().decode(errors="replace")
    finally:
        connection.close()
    if answer.status != 200 or body != "ok":
        hint = HINTS.get(answer.status, "see the log below")
        fail(server, f"GET /bench/ answered {answer.status} ({hint}): {body[:300]!r}")


def load(server: Server, duration: str) -> Load:
    """Run wrk against the server's /bench/: no failed socket, no answer outside 2xx and 3xx.

    wrk counts a redirect as a success, so check_answer first makes sure the view answers 200."""
    check_answer(server)
    headers = [option for name, value in HEADERS.items() for option in ("-H", f"{name}: {value}")]
    url = f"http://127.0.0.1:{server.port}/bench/"
    done = subprocess.run(
        ["wrk", *WRK_OPTIONS, f"--duration={duration}", *headers, url],
        capture_output=True,
        text=True,
        check=False,
    )
    output = done.stdout
    if done.returncode != 0:
        fail(server, f"wrk exited with status {done.returncode}:\n{output}{done.stderr}")
    rejected = NOT_2XX_3XX.search(output)
    if rejected:
        check_answer(server)  # exits naming the status if the view now fails every time
        fail(server, f"{rejected.group(1)} answers to wrk were neither 2xx nor 3xx:\n{output}")
    socket_errors = SOCKET_ERRORS.search(output)
    if socket_errors:
        fail(server, f"wrk counted socket errors ({socket_errors.group(1).strip()}):\n{output}")
    throughput, p99 = REQUESTS_PER_SECOND.search(output), P99.search(output)
    if not throughput or not p99 or float(throughput.group(1)) == 0:
        fail(server, f"wrk's output has no throughput or p99 latency:\n{output}")
    return Load(float(throughput.group(1)), float(p99.group(1)) * TIME_UNITS[p99.group(2)])


def measure(runs: int) -> dict[str, list[Load]]:
    """Each server's loads, in `runs` rounds that alternate which server goes first."""
    python = find_project_python()
    with tempfile.TemporaryDirectory(prefix="bench-requests-") as scratch_name:
        scratch = Path(scratch_name)
        with postgres_server() as postgres, redis_server(scratch) as redis:
            project = generate(scratch / "generated")
            database = create_database(python, postgres, "bench_requests")
            with (
                live_site(
                    project,
                    python,
                    database,
                    f"{redis}/1",
                    'ROOT_URLCONF = "bench_urls"',
                    workers=WORKERS,
                    threads=THREADS,
                ) as site,
                vanilla_site(start_vanilla(scratch / "vanilla", python), python) as vanilla,
            ):
                servers = [Server("project", site.port, site.log), vanilla]
                for server in servers:
                    load(server, WARM_UP)
                loads: dict[str, list[Load]] = {server.name: [] for server in servers}
                for number in range(runs):
                    for server in servers if number % 2 == 0 else servers[::-1]:
                        loads[server.name].append(load(server, DURATION))
    return loads


def report(runs: int) -> str:
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk (Debian)")
    loads = measure(runs)
    throughput = {
        name: statistics.median(load.requests_per_second for load in each)
        for name, each in loads.items()
    }
    p99_ms = {
        name: statistics.median(load.p99_seconds for load in each) * 1000
        for name, each in loads.items()
    }
    ratio = throughput["project"] / throughput["vanilla"]
    verdict = "within" if ratio >= BUDGET else "OVER"

    def row(label: str, name: str) -> str:
        rounds = ", ".join(f"{load.requests_per_second:.0f}" for load in loads[name])
        return f"| {label} | {throughput[name]:.0f} | {rounds} | {p99_ms[name]:.1f} ms |"

    return "\n".join(
        [
            f"Measured {date.today()} on {platform.machine()} with {os.cpu_count()} cores "
            f"({runs} rounds of {DURATION} per server; wrk {' '.join(WRK_OPTIONS)}; gunicorn "
            f"{WORKERS} workers of {THREADS} threads).",
            "",
            "| GET /bench/ | requests/s (median) | requests/s (each round) | p99 (median) |",
            "| --- | --- | --- | --- |",
            row("the project (production settings, all middleware)", "project"),
            row("vanilla `django-admin startproject`", "vanilla"),
            f"| project / vanilla | {ratio:.2f} | | {p99_ms['project'] / p99_ms['vanilla']:.2f}x |",
            "",
            f"Budget: at least {BUDGET:.0%} of vanilla's throughput ({verdict}).",
        ]
    )


def main() -> int:
    return run(__doc__.splitlines()[0], "requests", 5, report)


if __name__ == "__main__":
    sys.exit(main())
