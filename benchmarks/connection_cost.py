"""Benchmark: what each way of keeping and checking the PostgreSQL connection costs a request, in
one process, without the HTTP server.

benchmarks/connection_check.py measures the designs of the DESIGNS of benchmarks/common.py through
gunicorn, where the machine's load moves every figure. This one keeps only what differs between
them: one process per design, with the generated project's production settings and the design's,
runs what a request does with the database (Django's request_started signal, which closes an
unusable or expired connection; the /rows/ page's query of ten rows; request_finished, which
gives a pooled connection back) back to back, and reads the CPU time of the process (its pool's
threads included) and of the PostgreSQL backends of its database from /proc. The processes run in
turn, round after round, the order rotating; a design's cost is the median of the rounds, and
its difference from persistent connections without a check is the median of the differences
within rounds, with a 95% confidence interval.

With --write, it rewrites the "connection-cost" block of docs/performance.md.

    .venv/bin/python benchmarks/connection_cost.py [--runs 15] [--write docs/performance.md]
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

import copier
from common import (
    BENCH_URLS,
    DESIGNS,
    find_project_python,
    median_interval,
    prepare,
    run,
    seed,
)

from tests.helpers import copy_template
from tests.services import create_database, postgres_server, prepare_site, redis_server

REQUESTS = 2000
BASELINE = "nocheck"

# Runs in each design's process: a round of N requests for each line N read, answered by the CPU
# seconds the process and its database's backends spent on it.
INNER = """
import json, os, sys, time
from pathlib import Path

import django

django.setup()

from django.contrib.auth.models import Group
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started

PREFIX = "postgres: fortress " + sys.argv[1] + " "
TICK = 1 / os.sysconf("SC_CLK_TCK")


def database_cpu():
    total = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\\0", b" ").decode()
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if command.startswith(PREFIX):
                total += int(fields[11]) + int(fields[12])
    return total * TICK


def request():
    request_started.send(sender=WSGIHandler, environ={})
    rows = list(Group.objects.filter(name__startswith="Row ").order_by("name")[:10])
    request_finished.send(sender=WSGIHandler)
    assert len(rows) == 10


for _ in range(200):
    request()
print("ready", flush=True)
for line in sys.stdin:
    count = int(line)
    own, database = time.process_time(), database_cpu()
    for _ in range(count):
        request()
    own, database = time.process_time() - own, database_cpu() - database
    print(json.dumps([own / count, database / count]), flush=True)
"""


def start(project: Path, python: Path, name: str, env: dict[str, str]) -> subprocess.Popen:
    process = subprocess.Popen(
        [python, "-c", INNER, f"cost_{name}"],
        cwd=project,
        env={**os.environ, **env},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if process.stdout.readline().strip() != "ready":
        process.kill()
        sys.exit(f"{name} did not start:\n{process.stderr.read()}")
    return process


def measure(runs: int) -> tuple[dict[str, list[tuple[float, float]]], tuple[float, float]]:
    python = find_project_python()
    load_before = os.getloadavg()[1]
    with tempfile.TemporaryDirectory(prefix="bench-cost-") as scratch_name:
        scratch = Path(scratch_name)
        project = scratch / "project"
        copier.run_copy(
            str(copy_template(scratch / "template")),
            project,
            defaults=True,
            unsafe=True,
            quiet=True,
        )
        (project / "bench_urls.py").write_text(BENCH_URLS.format(urls="config.urls"))
        with postgres_server() as postgres, redis_server(scratch) as redis:
            processes = {}
            try:
                for name, design in DESIGNS.items():
                    database_url = create_database(python, postgres, f"cost_{name}")
                    environ = prepare(design, project, python)
                    site = prepare_site(project, python, database_url, f"{redis}/1", "", environ)
                    seed(python, database_url)
                    (project / f"settings_{name}.py").write_text(
                        f"from live_settings import *  # noqa: F403\n\n{design.settings}\n"
                    )
                    env = {**site.env, "DJANGO_SETTINGS_MODULE": f"settings_{name}"}
                    processes[name] = start(project, python, name, env)
                costs: dict[str, list[tuple[float, float]]] = {}
                names = list(processes)
                for number in range(runs):
                    turn = number % len(names)
                    for name in names[turn:] + names[:turn]:
                        process = processes[name]
                        process.stdin.write(f"{REQUESTS}\n")
                        process.stdin.flush()
                        answer = process.stdout.readline()
                        if not answer:
                            sys.exit(f"{name} stopped:\n{process.stderr.read()}")
                        costs.setdefault(name, []).append(tuple(json.loads(answer)))
            finally:
                for process in processes.values():
                    process.kill()
                    process.wait()
    return costs, (load_before, os.getloadavg()[1])


def report(runs: int) -> str:
    costs, load_average = measure(runs)
    rows = []
    for name, design in DESIGNS.items():
        own = statistics.median(cost[0] for cost in costs[name]) * 1e6
        database = statistics.median(cost[1] for cost in costs[name]) * 1e6
        row = f"| {design.label} | {own:.0f} µs | {database:.0f} µs |"
        if name == BASELINE:
            rows.append(f"{row} |")
            continue
        differences = [
            (mine[0] + mine[1] - base[0] - base[1]) * 1e6
            for mine, base in zip(costs[name], costs[BASELINE], strict=True)
        ]
        median, low, high = median_interval(differences)
        rows.append(f"{row} {median:+.0f} µs ({low:+.0f} to {high:+.0f}) |")
    return "\n".join(
        [
            f"Measured {date.today()} on {platform.machine()} with {os.cpu_count()} cores, load "
            f"average {load_average[0]:.1f} before and {load_average[1]:.1f} after (5 minutes): "
            f"{runs} rounds of {REQUESTS} requests per design, one process each.",
            "",
            "| connection | the process's CPU a request | PostgreSQL's | both, against "
            f"{DESIGNS[BASELINE].label} (95% interval) |",
            "| --- | --- | --- | --- |",
            *rows,
        ]
    )


def main() -> int:
    return run(__doc__.splitlines()[0], "connection-cost", 15, report)


if __name__ == "__main__":
    sys.exit(main())
