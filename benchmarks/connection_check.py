"""Benchmark: what each way of keeping and checking the PostgreSQL connection costs a page.

Serves GET /rows/ (ten rows read through the ORM, rendered with the context processors; see
benchmarks/requests.py) from a vanilla `startproject` with CONN_MAX_AGE=60 and from the generated
project under each design of the DESIGNS of benchmarks/common.py: as generated (persistent
connections, CONN_HEALTH_CHECKS), without the check, psycopg 3's pool with and without its
check, a check that asks the socket before the server, and a check only after an idle time.
Same servers, load, rounds and CPU reading from /proc as benchmarks/requests.py; the last column
counts the PostgreSQL backends each server holds after its loads.

With --write, it rewrites the "connection-check" block of docs/performance.md.

    .venv/bin/python benchmarks/connection_check.py [--runs 8] [--write docs/performance.md]
"""

from __future__ import annotations

import importlib.util
import os
import platform
import sys
import tempfile
from contextlib import ExitStack
from datetime import date
from pathlib import Path

from common import DESIGNS, backend, find_project_python, prepare, processes, run, seed

from tests.services import create_database, live_site, postgres_server, redis_server

# benchmarks/requests.py, by its path: as "requests" it would shadow the HTTP library.
_spec = importlib.util.spec_from_file_location(
    "request_benchmark", Path(__file__).with_name("requests.py")
)
bench = sys.modules["request_benchmark"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

PAGE = "/rows/"


def backends(database: str) -> int:
    """The PostgreSQL backends connected to database now."""
    return sum(1 for _, command in processes() if backend(database)(command))


def measure(runs: int) -> tuple[dict, dict[str, int], tuple[float, float]]:
    python = find_project_python()
    load_before = os.getloadavg()[1]
    with tempfile.TemporaryDirectory(prefix="bench-connection-") as scratch_name:
        scratch = Path(scratch_name)
        with postgres_server() as postgres, redis_server(scratch) as redis, ExitStack() as stack:
            vanilla = bench.start_vanilla(
                scratch / "vanilla", python, create_database(python, postgres, "bench_vanilla")
            )
            servers = {}
            for number, (name, design) in enumerate(DESIGNS.items(), start=1):
                project = bench.generate(scratch / name)
                environ = prepare(design, project, python)
                database = f"bench_{name}"
                database_url = create_database(python, postgres, database)
                site = stack.enter_context(
                    live_site(
                        project,
                        python,
                        database_url,
                        f"{redis}/{number}",
                        design.settings,
                        environ,
                        workers=bench.WORKERS,
                        threads=bench.THREADS,
                    )
                )
                seed(python, database_url)
                servers[name] = bench.Server(name, site.port, site.log, database)
            servers["vanilla"] = stack.enter_context(
                bench.vanilla_site(vanilla, python, "bench_vanilla")
            )
            order = list(servers.values())
            for server in order:
                bench.load(server, PAGE, bench.WARM_UP)
            loads: dict = {}
            for number in range(runs):
                turn = number % len(order)
                for server in order[turn:] + order[:turn]:
                    loads.setdefault((server.name, PAGE), []).append(
                        bench.load(server, PAGE, bench.DURATION)
                    )
            connections = {name: backends(server.database) for name, server in servers.items()}
    return loads, connections, (load_before, os.getloadavg()[1])


def report(runs: int) -> str:
    loads, connections, load_average = measure(runs)
    rows = []
    for name, design in DESIGNS.items():
        result = bench.compare(loads, name, PAGE)
        rows.append(
            f"| {design.label} | {result.throughput:.0f} | {result.vanilla_throughput:.0f} "
            f"| {result.ratio:.2f} ({result.low:.2f} to {result.high:.2f}) "
            f"| {result.worker_us:.0f} + {result.database_us:.0f} µs "
            f"| {result.vanilla_worker_us:.0f} + {result.vanilla_database_us:.0f} µs "
            f"| {result.cpu_ratio:.2f} ({result.cpu_low:.2f} to {result.cpu_high:.2f}) "
            f"| {result.p99_ms:.1f} ms | {connections[name]} |"
        )
    return "\n".join(
        [
            f"Measured {date.today()} on {platform.machine()} with {os.cpu_count()} cores, load "
            f"average {load_average[0]:.1f} before and {load_average[1]:.1f} after (5 minutes) "
            f"({runs} rounds of {bench.DURATION} per server; wrk {' '.join(bench.WRK_OPTIONS)}; "
            f"gunicorn {bench.WORKERS} synchronous workers; `GET {PAGE}`).",
            "",
            "| connection | requests/s | vanilla requests/s | server / vanilla (95% interval) "
            "| CPU a request: workers + PostgreSQL | vanilla's | vanilla's CPU / server's "
            "(95% interval) | p99 | PostgreSQL connections |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
            *rows,
            f"| vanilla `startproject`, `CONN_MAX_AGE=60`, no check | | | | | | | "
            f"| {connections['vanilla']} |",
        ]
    )


def main() -> int:
    return run(__doc__.splitlines()[0], "connection-check", 8, report)


if __name__ == "__main__":
    sys.exit(main())
