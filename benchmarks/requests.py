"""Benchmark: what the hardening costs a request, against a vanilla Django project.

Generates a project with the defaults and serves it as production does (gunicorn with the worker
model of the generated deploy/gunicorn.conf.py: 2 x cores + 1 synchronous workers;
config.settings.prod with every middleware; PostgreSQL and Redis from Debian's packages on
loopback). Serves the same project with startproject's MIDDLEWARE plus allauth's
AccountMiddleware, which allauth requires, so that the gap to vanilla splits into what the
project's own middleware costs and what its settings, apps and bigger process cost. And serves a
vanilla `django-admin startproject` (DEBUG off, otherwise Django's defaults) from the same
virtualenv with the same gunicorn settings. All three answer GET /bench/ with the same trivial
view ("ok", text/plain), which the budget is about, and GET /page/ with the same small page
rendered from a template (a real page's view and template cost more than these).
wrk (Debian's package) loads each in turn on loopback, with the headers the TLS proxy would add,
for --runs rounds that rotate which goes first.

The machine is shared and its speed drifts from one second to the next, so each round runs the
servers back to back, and each result is the median of the rounds' ratios to vanilla, printed
with a 95% confidence interval for that median and the range of the rounds. wrk runs on the same
cores as the servers, so the figures are for comparing, not for capacity planning. Budget: the
project serves at least 90% of vanilla's requests per second.

With --write, it rewrites the "requests" block of docs/performance.md.

    .venv/bin/python benchmarks/requests.py [--runs 12] [--write docs/performance.md]
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
from common import BENCH_URLS, PAGES, find_project_python, median_interval, run

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
# deploy/gunicorn.conf.py's worker model: WEB_CONCURRENCY or 2 x cores + 1 synchronous workers.
# Its max_requests is left out: restarting workers would measure start-up, not the middleware. So
# is its access log, which vanilla lacks (and which costs the project more: gunicorn's log
# formatting reads every response header).
WORKERS = 2 * (os.cpu_count() or 1) + 1
THREADS = 1
WRK_OPTIONS = ["--threads=2", "--connections=16", "--latency"]
DURATION = "5s"
WARM_UP = "3s"
HOST = "www.example.com"
# What the TLS proxy in front adds (LiveSite.request): without them the project answers 301 (to
# HTTPS) or 400 (a Host not in ALLOWED_HOSTS) instead of running the view.
HEADERS = {"Host": HOST, "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
HINTS = {
    301: "a redirect to HTTPS: the X-Forwarded-Proto header did not arrive",
    400: f"a bad request: is {HOST} in ALLOWED_HOSTS and sent as Host?",
    404: "no such URL: the bench_urls module is not the ROOT_URLCONF",
}
VANILLA_SETTINGS = f"""
DEBUG = False
ALLOWED_HOSTS = ["{HOST}"]
ROOT_URLCONF = "bench_urls"
"""

# allauth refuses to start without its middleware (allauth/account/apps.py).
ALLAUTH_MIDDLEWARE = "allauth.account.middleware.AccountMiddleware"
STARTPROJECT_MIDDLEWARE = re.compile(r"^MIDDLEWARE = \[(.*?)\]", re.M | re.S)

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


# The servers compared with vanilla, as the table names them.
LABELS = {
    "project": "the project",
    "plain": "the project, `startproject`'s MIDDLEWARE + allauth's",
}


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
    """`django-admin startproject vanilla`, with the views under test and production's DEBUG
    off."""
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


def startproject_middleware(vanilla: Path) -> str:
    """MIDDLEWARE as `startproject` wrote it, plus allauth's, as a line of settings."""
    settings = (vanilla / "vanilla" / "settings.py").read_text()
    found = STARTPROJECT_MIDDLEWARE.search(settings)
    layers = re.findall(r"'([\w.]+)'", found.group(1)) if found else []
    if "django.middleware.security.SecurityMiddleware" not in layers:
        sys.exit(f"No MIDDLEWARE list found in {vanilla}/vanilla/settings.py: {layers}")
    return f"MIDDLEWARE = {[*layers, ALLAUTH_MIDDLEWARE]!r}"


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


def check_answer(server: Server, page: str) -> None:
    """One GET of page with wrk's headers must get the view's 200 and its content."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request("GET", page, headers=HEADERS)
        answer = connection.getresponse()
        body = answer.read().decode(errors="replace")
    finally:
        connection.close()
    if answer.status != 200 or PAGES[page] not in body:
        hint = HINTS.get(answer.status, "see the log below")
        fail(server, f"GET {page} answered {answer.status} ({hint}): {body[:300]!r}")


def load(server: Server, page: str, duration: str) -> Load:
    """Run wrk against the server's page: no failed socket, no answer outside 2xx and 3xx.

    wrk counts a redirect as a success, so check_answer first makes sure the view answers 200."""
    check_answer(server, page)
    headers = [option for name, value in HEADERS.items() for option in ("-H", f"{name}: {value}")]
    url = f"http://127.0.0.1:{server.port}{page}"
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
        check_answer(server, page)  # exits naming the status if the view now fails every time
        fail(server, f"{rejected.group(1)} answers to wrk were neither 2xx nor 3xx:\n{output}")
    socket_errors = SOCKET_ERRORS.search(output)
    if socket_errors:
        fail(server, f"wrk counted socket errors ({socket_errors.group(1).strip()}):\n{output}")
    throughput, p99 = REQUESTS_PER_SECOND.search(output), P99.search(output)
    if not throughput or not p99 or float(throughput.group(1)) == 0:
        fail(server, f"wrk's output has no throughput or p99 latency:\n{output}")
    return Load(float(throughput.group(1)), float(p99.group(1)) * TIME_UNITS[p99.group(2)])


def measure(runs: int) -> dict[tuple[str, str], list[Load]]:
    """The loads of each page on each server, in `runs` rounds that rotate which server goes
    first."""
    python = find_project_python()
    with tempfile.TemporaryDirectory(prefix="bench-requests-") as scratch_name:
        scratch = Path(scratch_name)
        with postgres_server() as postgres, redis_server(scratch) as redis:
            vanilla_project = start_vanilla(scratch / "vanilla", python)
            urls = 'ROOT_URLCONF = "bench_urls"'
            with (
                live_site(
                    generate(scratch / "generated"),
                    python,
                    create_database(python, postgres, "bench_requests"),
                    f"{redis}/1",
                    urls,
                    workers=WORKERS,
                    threads=THREADS,
                ) as site,
                live_site(
                    generate(scratch / "plain"),
                    python,
                    create_database(python, postgres, "bench_requests_plain"),
                    f"{redis}/2",
                    f"{urls}\n{startproject_middleware(vanilla_project)}",
                    workers=WORKERS,
                    threads=THREADS,
                ) as plain,
                vanilla_site(vanilla_project, python) as vanilla,
            ):
                servers = [
                    Server("project", site.port, site.log),
                    Server("plain", plain.port, plain.log),
                    vanilla,
                ]
                loads: dict[tuple[str, str], list[Load]] = {}
                for page in PAGES:
                    for server in servers:
                        load(server, page, WARM_UP)
                    for number in range(runs):
                        turn = number % len(servers)
                        for server in servers[turn:] + servers[:turn]:
                            loads.setdefault((server.name, page), []).append(
                                load(server, page, DURATION)
                            )
    return loads


@dataclass
class Comparison:
    """One server against vanilla on one page: each one's medians, and the rounds' ratios
    (sorted), their median and its 95% interval."""

    throughput: float
    vanilla_throughput: float
    p99_ms: float
    vanilla_p99_ms: float
    ratios: list[float]
    ratio: float
    low: float
    high: float


def compare(loads: dict[tuple[str, str], list[Load]], server: str, page: str) -> Comparison:
    mine, vanilla = loads[server, page], loads["vanilla", page]
    ratios = sorted(
        own.requests_per_second / theirs.requests_per_second
        for own, theirs in zip(mine, vanilla, strict=True)
    )
    median, low, high = median_interval(ratios)
    return Comparison(
        throughput=statistics.median(load.requests_per_second for load in mine),
        vanilla_throughput=statistics.median(load.requests_per_second for load in vanilla),
        p99_ms=statistics.median(load.p99_seconds for load in mine) * 1000,
        vanilla_p99_ms=statistics.median(load.p99_seconds for load in vanilla) * 1000,
        ratios=ratios,
        ratio=median,
        low=low,
        high=high,
    )


def report(runs: int) -> str:
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk (Debian)")
    loads = measure(runs)
    results = {(server, page): compare(loads, server, page) for server in LABELS for page in PAGES}
    rows = []
    for page, page_label in [("/bench/", "trivial view"), ("/page/", "page from a template")]:
        for server, label in LABELS.items():
            result = results[server, page]
            ratio = f"**{result.ratio:.2f}**" if server == "project" else f"{result.ratio:.2f}"
            rows.append(
                f"| `GET {page}` ({page_label}) | {label} | {result.throughput:.0f} "
                f"| {result.vanilla_throughput:.0f} | {ratio} "
                f"| {result.low:.2f} to {result.high:.2f} "
                f"| {result.ratios[0]:.2f} to {result.ratios[-1]:.2f} "
                f"| {result.p99_ms:.1f} ms | {result.vanilla_p99_ms:.1f} ms |"
            )
    trivial = results["project", "/bench/"]
    verdict = "within" if trivial.ratio >= BUDGET else "OVER"
    if trivial.low <= BUDGET <= trivial.high:
        verdict += (
            f"; the budget lies inside the interval of {trivial.low:.2f} to {trivial.high:.2f}"
        )
    return "\n".join(
        [
            f"Measured {date.today()} on {platform.machine()} with {os.cpu_count()} cores "
            f"({runs} rounds of {DURATION} per server and page; wrk {' '.join(WRK_OPTIONS)}; "
            f"gunicorn {WORKERS} synchronous workers).",
            "",
            "| page | server | requests/s | vanilla requests/s | server / vanilla | 95% interval "
            "| rounds | p99 | vanilla p99 |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
            *rows,
            "",
            "Requests a second and p99 are each server's median over the rounds; server / vanilla "
            "is the median of the rounds' own ratios (so not quite the ratio of the two medians), "
            "with a 95% confidence interval for that median and the range of the rounds.",
            "",
            f"Budget: the project's trivial view at least {BUDGET:.0%} of vanilla's throughput "
            f"({verdict}).",
        ]
    )


def main() -> int:
    return run(__doc__.splitlines()[0], "requests", 12, report)


if __name__ == "__main__":
    sys.exit(main())
