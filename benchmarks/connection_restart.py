"""Benchmark: failed requests when PostgreSQL restarts under load, with and without the check
before each request reuses a connection (CONN_HEALTH_CHECKS), and under the other designs of
the DESIGNS of benchmarks/common.py (psycopg 3's pool with and without its check, a check that asks
the socket first, a check only after an idle time).

Generates a project with the defaults and serves it as production does (gunicorn, the generated
worker model, config.settings.prod, PostgreSQL and Redis on loopback), once per design: as
generated (persistent connections, CONN_HEALTH_CHECKS on), with CONN_HEALTH_CHECKS off, and so on.
For each server in turn,
client threads request GET /rows/ (ten rows from PostgreSQL in a template, as
benchmarks/requests.py serves it) back to back while PostgreSQL is stopped as `systemctl stop`
would stop it and started again. Every answer is counted by when it came: before the stop, while
the server was down (the project answers 503, security/outages.py), and after it was up again,
where any failure is a request lost to a connection the restart ended.

With --write, it rewrites the "connection-restart" block of docs/performance.md.

    .venv/bin/python benchmarks/connection_restart.py [--runs 3] [--write docs/performance.md]
"""

from __future__ import annotations

import http.client
import os
import platform
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import date
from pathlib import Path

import copier
from common import BENCH_URLS, DESIGNS, find_project_python, prepare, run, seed

from tests.helpers import copy_template
from tests.services import (
    VanishingServer,
    create_database,
    live_site,
    postgres_server,
    redis_server,
)
from tests.test_outages import postgres_stopped

WORKERS = 2 * (os.cpu_count() or 1) + 1
# Fewer clients than workers: a site that is not saturated has workers idle through a restart,
# and their kept connections are the ones a restart leaves dead.
CLIENTS = 3
# Seconds of load before the stop and after the start.
STEADY = 3.0
# Requests sent one at a time after a restart that no request met.
QUIET_REQUESTS = 20
HEADERS = {
    "Host": "www.example.com",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-For": "203.0.113.7",
}


def one_request(port: int) -> int:
    """GET /rows/: its status, or 0 for no answer at all."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", "/rows/", headers=HEADERS)
        answer = connection.getresponse()
        answer.read()
        return answer.status
    except OSError:
        return 0
    finally:
        connection.close()


def hammer(port: int, stop: threading.Event, answers: list[tuple[float, int]]) -> None:
    """Request /rows/ back to back until stop is set, recording the time each request was sent
    and its status."""
    while not stop.is_set():
        sent = time.monotonic()
        answers.append((sent, one_request(port)))


def under_load(port: int, seconds: float, during=None) -> list[tuple[float, int]]:
    """CLIENTS threads hammering the server for `seconds`, around `during` if given."""
    answers: list[tuple[float, int]] = []
    stop = threading.Event()
    clients = [threading.Thread(target=hammer, args=(port, stop, answers)) for _ in range(CLIENTS)]
    for client in clients:
        client.start()
    time.sleep(seconds)
    if during:
        during()
        time.sleep(seconds)
    stop.set()
    for client in clients:
        client.join()
    return answers


def restart(python: Path, server: str, times: list[float]) -> None:
    times.append(time.monotonic())
    with postgres_stopped(python, server):
        pass
    times.append(time.monotonic())


def busy_restart(port: int, python: Path, server: str) -> Counter:
    """Answers by when their request was sent: before the stop, while PostgreSQL was down or
    starting, after it was up; each ok or failed."""
    times: list[float] = []
    answers = under_load(port, STEADY, lambda: restart(python, server, times))
    stopped, started = times
    counts: Counter = Counter()
    for sent, status in answers:
        when = "before" if sent < stopped else "down" if sent < started else "after"
        counts[when, "ok" if status == 200 else "failed"] += 1
    return counts


def quiet_restart(port: int, python: Path, server: str) -> int:
    """Failed answers among QUIET_REQUESTS sent one at a time after a restart that no request
    met: every worker kept a connection from before it."""
    under_load(port, STEADY)  # every worker serves and keeps a connection
    restart(python, server, [])
    return sum(one_request(port) != 200 for _ in range(QUIET_REQUESTS))


def quiet_vanish(port: int, server: VanishingServer) -> int:
    """Failed answers among QUIET_REQUESTS sent one at a time after the server vanished while no
    request ran."""
    under_load(port, STEADY)
    server.vanish()
    return sum(one_request(port) != 200 for _ in range(QUIET_REQUESTS))


def report(runs: int) -> str:
    python = find_project_python()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-restart-") as scratch_name:
        scratch = Path(scratch_name)
        with postgres_server() as server, redis_server(scratch) as redis:
            for number, design in enumerate(DESIGNS.values(), start=1):
                project = scratch / f"project{number}"
                copier.run_copy(
                    str(copy_template(scratch / f"template{number}")),
                    project,
                    defaults=True,
                    unsafe=True,
                    quiet=True,
                )
                (project / "bench_urls.py").write_text(BENCH_URLS.format(urls="config.urls"))
                environ = prepare(design, project, python)
                database = create_database(python, server, f"restart{number}")
                vanishing = VanishingServer(database)
                with live_site(
                    project,
                    python,
                    vanishing.url,
                    f"{redis}/{number}",
                    design.settings,
                    environ,
                    workers=WORKERS,
                    threads=1,
                ) as site:
                    seed(python, database)
                    under_load(site.port, STEADY)  # the workers load the project
                    for _ in range(runs):
                        counts = busy_restart(site.port, python, server)
                        quiet = quiet_restart(site.port, python, server)
                        vanished = quiet_vanish(site.port, vanishing)
                        rows.append(
                            f"| {design.label} | {counts['before', 'ok']} "
                            f"({counts['before', 'failed']} failed) "
                            f"| {counts['down', 'ok'] + counts['down', 'failed']} "
                            f"({counts['down', 'failed']} failed) | {counts['after', 'ok']} "
                            f"| **{counts['after', 'failed']}** | **{quiet}** of {QUIET_REQUESTS} "
                            f"| {vanished} of {QUIET_REQUESTS} |"
                        )
    return "\n".join(
        [
            f"Measured {date.today()} on {platform.machine()}, Python {platform.python_version()}"
            f": {CLIENTS} clients requesting `GET /rows/` back to back from gunicorn's {WORKERS} "
            f"synchronous workers, {STEADY:.0f} s before PostgreSQL stops and after it is up "
            f"again; then, after a restart that no request met, {QUIET_REQUESTS} requests one "
            f"at a time; then the same after the server vanished without a word (a relay in front "
            f"of PostgreSQL drops its connections and answers the next bytes on them with a "
            f"reset). {runs} rounds of each per server.",
            "",
            "| server | sent before the stop | sent while PostgreSQL restarts | sent after, "
            "served | sent after, failed | failed after a restart under no load "
            "| failed after the server vanished, under no load |",
            "| --- | --- | --- | --- | --- | --- | --- |",
            *rows,
        ]
    )


def main() -> int:
    return run(__doc__.splitlines()[0], "connection-restart", 3, report)


if __name__ == "__main__":
    sys.exit(main())
