"""Benchmark: what the hardening costs a request, against a vanilla Django project.

Generates a project with the defaults and serves it as production does (gunicorn with the worker
model of the generated deploy/gunicorn.conf.py: 2 x cores + 1 synchronous workers;
config.settings.prod with every middleware; PostgreSQL and Redis from Debian's packages on
loopback). Serves the same project with startproject's MIDDLEWARE plus allauth's
AccountMiddleware, which allauth requires, so that the gap to vanilla splits into what the
project's own middleware costs and what its settings, apps and bigger process cost. And serves a
vanilla `django-admin startproject` (DEBUG off, otherwise Django's defaults) from the same
virtualenv with the same gunicorn settings, on the same PostgreSQL with persistent connections
(CONN_MAX_AGE=60, as production would set it). All three answer GET /bench/ with the same
trivial view ("ok", text/plain), GET /page/ with the same small page rendered from a template,
and GET /rows/, which the budget is about: ten rows read through the ORM from PostgreSQL and
rendered in a template with the context processors. On /rows/ a fourth server runs the project
without CONN_HEALTH_CHECKS, to show what the connection check costs.
wrk (Debian's package) loads each in turn on loopback, with the headers the TLS proxy would add,
for --runs rounds that rotate which goes first. Around each load, the CPU time of the server's
gunicorn processes and of its PostgreSQL backends is read from /proc and divided by the
requests served: the machine's load moves it far less than it moves requests a second.

The machine is shared and its speed drifts from one second to the next, so each round runs the
servers back to back, and each result is the median of the rounds' ratios to vanilla, printed
with a 95% confidence interval for that median and the range of the rounds. wrk runs on the same
cores as the servers, so the figures are for comparing, not for capacity planning. Budget: the
project serves at least 95% of vanilla's requests per second on /rows/.

With --write, it rewrites the "requests" block of docs/performance.md.

    .venv/bin/python benchmarks/requests.py [--runs 8] [--write docs/performance.md]
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
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

import copier
from common import (
    BENCH_URLS,
    PAGES,
    backend,
    cpu_seconds,
    find_project_python,
    median_interval,
    run,
    seed,
)

from tests.helpers import copy_template, free_port
from tests.services import (
    create_database,
    gunicorn,
    live_site,
    postgres_server,
    project_bin,
    redis_server,
)

# The project's share of vanilla's requests a second on BUDGET_PAGE.
BUDGET = 0.95
BUDGET_PAGE = "/rows/"
# deploy/gunicorn.conf.py's worker model: WEB_CONCURRENCY or 2 x cores + 1 synchronous workers.
# Its max_requests is left out: restarting workers would measure start-up, not the middleware. So
# is its access log, which vanilla lacks (and which costs the project more: gunicorn's log
# formatting reads every response header).
WORKERS = 2 * (os.cpu_count() or 1) + 1
THREADS = 1
WRK_OPTIONS = ["--threads=2", "--connections=16", "--latency", "--timeout=10s"]
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
# Vanilla with what a team would set for production: DEBUG off, its host, and persistent
# connections to PostgreSQL (Django's default, CONN_MAX_AGE=0, opens one a request).
VANILLA_SETTINGS = """
DEBUG = False
ALLOWED_HOSTS = ["{host}"]
ROOT_URLCONF = "bench_urls"
DATABASES = {{
    "default": {{
        "ENGINE": "django.db.backends.postgresql",
        "HOST": "{url.hostname}",
        "PORT": {url.port},
        "USER": "{url.username}",
        "NAME": "{name}",
        "CONN_MAX_AGE": 60,
    }}
}}
"""
# The project's settings without the check before each request reuses a connection.
NO_HEALTH_CHECKS = 'DATABASES["default"]["CONN_HEALTH_CHECKS"] = False'

# allauth refuses to start without its middleware (allauth/account/apps.py).
ALLAUTH_MIDDLEWARE = "allauth.account.middleware.AccountMiddleware"
STARTPROJECT_MIDDLEWARE = re.compile(r"^MIDDLEWARE = \[(.*?)\]", re.M | re.S)

# wrk's summary: throughput, the 99th percentile of --latency, and the failures it counts.
REQUESTS_PER_SECOND = re.compile(r"^Requests/sec:\s+([\d.]+)\s*$", re.M)
P99 = re.compile(r"^\s+99%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.M)
TIME_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
NOT_2XX_3XX = re.compile(r"^\s+Non-2xx or 3xx responses:\s+(\d+)\s*$", re.M)
SOCKET_ERRORS = re.compile(r"^\s+Socket errors:(.*)$", re.M)
REQUESTS = re.compile(r"^\s+(\d+) requests in ", re.M)


@dataclass
class Server:
    name: str
    port: int
    log: Path
    database: str


# The servers compared with vanilla, as the table names them.
LABELS = {
    "project": "the project",
    "nocheck": "the project, `CONN_HEALTH_CHECKS` off",
    "plain": "the project, `startproject`'s MIDDLEWARE + allauth's",
}
# The servers each page is served by, vanilla last.
PAGE_SERVERS = {
    "/bench/": ["project", "plain", "vanilla"],
    "/page/": ["project", "plain", "vanilla"],
    "/rows/": ["project", "nocheck", "plain", "vanilla"],
}
PAGE_LABELS = {
    "/bench/": "trivial view",
    "/page/": "page from a template",
    "/rows/": "10 rows from PostgreSQL in a template",
}


@dataclass
class Load:
    requests_per_second: float
    p99_seconds: float
    # CPU time a request, in seconds: the server's gunicorn processes, its PostgreSQL backends.
    worker_cpu: float
    database_cpu: float

    @property
    def cpu(self) -> float:
        return self.worker_cpu + self.database_cpu


def server_cpu(server: Server) -> tuple[float, float]:
    """The CPU time so far of the server's gunicorn processes (forked workers keep the master's
    command line) and of the PostgreSQL backends connected to its database. A backend that
    ends between two readings takes its time with it: persistent connections keep them."""
    bind = f"--bind=127.0.0.1:{server.port} "
    return cpu_seconds(lambda command: bind in command), cpu_seconds(backend(server.database))


def generate(folder: Path) -> Path:
    project = folder / "project"
    copier.run_copy(
        str(copy_template(folder / "template")), project, defaults=True, unsafe=True, quiet=True
    )
    (project / "bench_urls.py").write_text(BENCH_URLS.format(urls="config.urls"))
    return project


def start_vanilla(folder: Path, python: Path, database_url: str) -> Path:
    """`django-admin startproject vanilla`, with the views under test, production's DEBUG off
    and persistent connections to its migrated and seeded database."""
    folder.mkdir()
    made = subprocess.run(
        [project_bin(python, "django-admin"), "startproject", "vanilla", folder],
        capture_output=True,
        text=True,
        check=False,
    )
    if made.returncode != 0:
        sys.exit(f"django-admin startproject failed:\n{made.stderr}")
    url = urlsplit(database_url)
    with (folder / "vanilla" / "settings.py").open("a") as settings:
        settings.write(VANILLA_SETTINGS.format(host=HOST, url=url, name=url.path.lstrip("/")))
    (folder / "bench_urls.py").write_text(BENCH_URLS.format(urls="vanilla.urls"))
    migrate = subprocess.run(
        [python, "manage.py", "migrate", "--noinput"],
        cwd=folder,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "vanilla.settings"},
        capture_output=True,
        text=True,
        check=False,
    )
    if migrate.returncode != 0:
        sys.exit(f"vanilla's migrate failed:\n{migrate.stdout}{migrate.stderr}")
    seed(python, database_url)
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
def vanilla_site(project: Path, python: Path, database: str) -> Iterator[Server]:
    """Serve the vanilla project with live_site's gunicorn command and environment."""
    server = Server("vanilla", free_port(), project / "gunicorn.log", database)
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
    workers_before, database_before = server_cpu(server)
    done = subprocess.run(
        ["wrk", *WRK_OPTIONS, f"--duration={duration}", *headers, url],
        capture_output=True,
        text=True,
        check=False,
    )
    workers_after, database_after = server_cpu(server)
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
    served = REQUESTS.search(output)
    if not throughput or not p99 or not served or float(throughput.group(1)) == 0:
        fail(server, f"wrk's output has no throughput, request count or p99 latency:\n{output}")
    requests = int(served.group(1))
    return Load(
        float(throughput.group(1)),
        float(p99.group(1)) * TIME_UNITS[p99.group(2)],
        (workers_after - workers_before) / requests,
        (database_after - database_before) / requests,
    )


def measure(runs: int) -> dict[tuple[str, str], list[Load]]:
    """The loads of each page on each of its servers, in `runs` rounds that rotate which server
    goes first."""
    python = find_project_python()
    with tempfile.TemporaryDirectory(prefix="bench-requests-") as scratch_name:
        scratch = Path(scratch_name)
        with postgres_server() as postgres, redis_server(scratch) as redis:
            vanilla_project = start_vanilla(
                scratch / "vanilla",
                python,
                create_database(python, postgres, "bench_vanilla"),
            )
            urls = 'ROOT_URLCONF = "bench_urls"'
            sites = {
                "project": ("bench_project", urls),
                "nocheck": ("bench_nocheck", f"{urls}\n{NO_HEALTH_CHECKS}"),
                "plain": ("bench_plain", f"{urls}\n{startproject_middleware(vanilla_project)}"),
            }
            with ExitStack() as stack:
                servers = {}
                for number, (name, (database, settings)) in enumerate(sites.items(), start=1):
                    database_url = create_database(python, postgres, database)
                    site = stack.enter_context(
                        live_site(
                            generate(scratch / name),
                            python,
                            database_url,
                            f"{redis}/{number}",
                            settings,
                            workers=WORKERS,
                            threads=THREADS,
                        )
                    )
                    seed(python, database_url)
                    servers[name] = Server(name, site.port, site.log, database)
                servers["vanilla"] = stack.enter_context(
                    vanilla_site(vanilla_project, python, "bench_vanilla")
                )
                loads: dict[tuple[str, str], list[Load]] = {}
                for page, names in PAGE_SERVERS.items():
                    order = [servers[name] for name in names]
                    for server in order:
                        load(server, page, WARM_UP)
                    for number in range(runs):
                        turn = number % len(order)
                        for server in order[turn:] + order[:turn]:
                            loads.setdefault((server.name, page), []).append(
                                load(server, page, DURATION)
                            )
    return loads


@dataclass
class Comparison:
    """One server against vanilla on one page: each one's medians, and the rounds' ratios
    (sorted), their median and its 95% interval; the same for vanilla's CPU time a request
    over the server's, which reads as a share of vanilla's throughput on a machine with no
    other work."""

    throughput: float
    vanilla_throughput: float
    p99_ms: float
    vanilla_p99_ms: float
    worker_us: float
    database_us: float
    vanilla_worker_us: float
    vanilla_database_us: float
    ratios: list[float]
    ratio: float
    low: float
    high: float
    cpu_ratio: float
    cpu_low: float
    cpu_high: float


def compare(loads: dict[tuple[str, str], list[Load]], server: str, page: str) -> Comparison:
    mine, vanilla = loads[server, page], loads["vanilla", page]
    pairs = list(zip(mine, vanilla, strict=True))
    ratios = sorted(own.requests_per_second / theirs.requests_per_second for own, theirs in pairs)
    median, low, high = median_interval(ratios)
    cpu_median, cpu_low, cpu_high = median_interval([theirs.cpu / own.cpu for own, theirs in pairs])
    return Comparison(
        throughput=statistics.median(load.requests_per_second for load in mine),
        vanilla_throughput=statistics.median(load.requests_per_second for load in vanilla),
        p99_ms=statistics.median(load.p99_seconds for load in mine) * 1000,
        vanilla_p99_ms=statistics.median(load.p99_seconds for load in vanilla) * 1000,
        worker_us=statistics.median(load.worker_cpu for load in mine) * 1e6,
        database_us=statistics.median(load.database_cpu for load in mine) * 1e6,
        vanilla_worker_us=statistics.median(load.worker_cpu for load in vanilla) * 1e6,
        vanilla_database_us=statistics.median(load.database_cpu for load in vanilla) * 1e6,
        ratios=ratios,
        ratio=median,
        low=low,
        high=high,
        cpu_ratio=cpu_median,
        cpu_low=cpu_low,
        cpu_high=cpu_high,
    )


def report(runs: int) -> str:
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk (Debian)")
    loads = measure(runs)
    results = {
        (server, page): compare(loads, server, page)
        for page, servers in PAGE_SERVERS.items()
        for server in servers
        if server != "vanilla"
    }
    rows = []
    for (server, page), result in results.items():
        ratio = f"{result.ratio:.2f}"
        if server == "project" and page == BUDGET_PAGE:
            ratio = f"**{ratio}**"
        rows.append(
            f"| `GET {page}` ({PAGE_LABELS[page]}) | {LABELS[server]} "
            f"| {result.throughput:.0f} | {result.vanilla_throughput:.0f} | {ratio} "
            f"| {result.low:.2f} to {result.high:.2f} "
            f"| {result.ratios[0]:.2f} to {result.ratios[-1]:.2f} "
            f"| {result.worker_us:.0f} + {result.database_us:.0f} µs "
            f"| {result.vanilla_worker_us:.0f} + {result.vanilla_database_us:.0f} µs "
            f"| {result.cpu_ratio:.2f} ({result.cpu_low:.2f} to {result.cpu_high:.2f}) "
            f"| {result.p99_ms:.1f} ms | {result.vanilla_p99_ms:.1f} ms |"
        )
    budgeted = results["project", BUDGET_PAGE]
    verdict = "within" if budgeted.ratio >= BUDGET else "OVER"
    if budgeted.low <= BUDGET <= budgeted.high:
        verdict += (
            f"; the budget lies inside the interval of {budgeted.low:.2f} to {budgeted.high:.2f}"
        )
    return "\n".join(
        [
            f"Measured {date.today()} on {platform.machine()} with {os.cpu_count()} cores "
            f"({runs} rounds of {DURATION} per server and page; wrk {' '.join(WRK_OPTIONS)}; "
            f"gunicorn {WORKERS} synchronous workers).",
            "",
            "| page | server | requests/s | vanilla requests/s | server / vanilla | 95% interval "
            "| rounds | CPU a request: workers + PostgreSQL | vanilla's | vanilla's CPU / server's "
            "(95% interval) | p99 | vanilla p99 |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
            *rows,
            "",
            "Requests a second, CPU a request and p99 are each server's median over the rounds; "
            "server / vanilla is the median of the rounds' own ratios (so not quite the ratio of "
            "the two medians), with a 95% confidence interval for that median and the range of "
            "the rounds. CPU a request is the user and system time of the server's gunicorn "
            "processes and of its PostgreSQL backends over a round, divided by the requests "
            "served; vanilla's CPU / server's is the median of the rounds' ratios, the share of "
            "vanilla's throughput the server would reach if CPU were all that limited both.",
            "",
            f"Budget: the project's `GET {BUDGET_PAGE}` at least {BUDGET:.0%} of vanilla's "
            f"throughput ({verdict}). The trivial view and the small page have no budget.",
        ]
    )


def main() -> int:
    return run(__doc__.splitlines()[0], "requests", 8, report)


if __name__ == "__main__":
    sys.exit(main())
