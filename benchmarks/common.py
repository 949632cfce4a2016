"""What the benchmark scripts share: the command line, the results table, docs/performance.md,
the views the request benchmarks serve, the designs of the database connection check, and the
CPU time of processes read from /proc."""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Importing this module lets the benchmarks import the template tests' helpers (tests.helpers).
sys.path.insert(0, str(REPO))


CLOCK_TICK = 1 / os.sysconf("SC_CLK_TCK")


def processes() -> Iterator[tuple[int, str]]:
    """The pid and command line (its arguments joined by spaces) of each process running now."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:  # the process ended meanwhile
                continue
            yield int(entry.name), command


def stat(pid: int) -> list[str]:
    """The fields of /proc/pid/stat after the command name (which may hold spaces and "(")."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def own_cpu(pid: int) -> float:
    """The CPU time (user and system) pid has used so far."""
    fields = stat(pid)
    return (int(fields[11]) + int(fields[12])) * CLOCK_TICK


def cpu_seconds(matches: Callable[[str], bool]) -> float:
    """The CPU time (user and system) of the processes whose command line matches."""
    total = 0.0
    for pid, command in processes():
        if matches(command):
            try:
                total += own_cpu(pid)
            except OSError:  # the process ended meanwhile
                continue
    return total


def backend(database: str) -> Callable[[str], bool]:
    """Whether a command line is that of a PostgreSQL backend connected to database. A backend
    that ends between two readings takes its CPU time with it: persistent connections keep them."""
    prefix = f"postgres: fortress {database} "
    return lambda command: command.startswith(prefix)


# The pages under test, and what each answer must contain.
PAGES = {"/bench/": "ok", "/page/": "<li>Item 20 of 20</li>", "/rows/": "<li>Row 10 ("}

# The ten rows /rows/ reads: auth's groups, a table that vanilla and the project both have (the
# project's migrations add groups of their own, which the view's filter leaves out).
SEED_ROWS = (
    "INSERT INTO auth_group (name) "
    "SELECT 'Row ' || lpad(n::text, 2, '0') FROM generate_series(1, 10) AS n"
)


def seed(python: Path, database_url: str) -> None:
    """The rows /rows/ reads, in a migrated database, written with the project's psycopg."""
    done = subprocess.run(
        [
            python,
            "-c",
            "import sys, psycopg\n"
            "with psycopg.connect(sys.argv[1], autocommit=True) as db:\n"
            "    db.execute(sys.argv[2])",
            database_url,
            SEED_ROWS,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"Seeding {database_url} failed:\n{done.stderr}")


# The views under test, before the project's own URLs; {urls} is the project's URL module. The
# pages are rendered with the project's template engine and context processors; /rows/ reads its
# rows through the ORM, as a real page does, and its template asks the context processors for
# the user and the messages.
BENCH_URLS = '''"""GET /bench/, /page/ and /rows/ for the request benchmarks, before the project's
URLs."""

from django.contrib.auth.models import Group
from django.http import HttpResponse
from django.template import engines
from django.urls import path

from {urls} import urlpatterns as project_urlpatterns

PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{{{{ title }}}}</title></head>
<body>
<h1>{{{{ title }}}}</h1>
<ul>{{% for item in items %}}<li>{{{{ item }}}}</li>{{% endfor %}}</ul>
</body>
</html>
"""
TEMPLATE = engines["django"].from_string(PAGE)

ROWS_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{{{{ title }}}}</title></head>
<body>
{{% if user.is_authenticated %}}<p>Signed in as {{{{ user.get_username }}}}</p>{{% endif %}}
{{% for message in messages %}}<p class="{{{{ message.tags }}}}">{{{{ message }}}}</p>{{% endfor %}}
<h1>{{{{ title }}}}</h1>
<ul>{{% for group in groups %}}<li>{{{{ group.name }}}} ({{{{ group.pk }}}})</li>{{% endfor %}}</ul>
</body>
</html>
"""
ROWS_TEMPLATE = engines["django"].from_string(ROWS_PAGE)


def bench(request):
    return HttpResponse("ok", content_type="text/plain")


def page(request):
    items = [f"Item {{number}} of 20" for number in range(1, 21)]
    return HttpResponse(TEMPLATE.render({{"title": "A page", "items": items}}, request))


def rows(request):
    groups = Group.objects.filter(name__startswith="Row ").order_by("name")[:10]
    return HttpResponse(ROWS_TEMPLATE.render({{"title": "Rows", "groups": groups}}, request))


urlpatterns = [
    path("bench/", bench),
    path("page/", page),
    path("rows/", rows),
    *project_urlpatterns,
]
'''


def replace_block(path: Path, name: str, text: str) -> None:
    """Replace what stands between <!-- name:begin --> and <!-- name:end --> in path with text."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    content = path.read_text()
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    if not pattern.search(content):
        raise SystemExit(f"{path} has no {begin} ... {end} block")
    path.write_text(pattern.sub(lambda _: f"{begin}\n{text}\n{end}", content))


def find_project_python(version: str = "3.12") -> Path:
    """The generated projects' virtualenv for a Python version, as the test suite built it for
    the current lock file."""
    from tests.helpers import project_env_dir

    python = project_env_dir(version) / "bin" / "python"
    if not python.exists():
        sys.exit(
            f"No Python {version} virtualenv for the current lock file in .cache: run `make test` "
            "first."
        )
    return python


def run_in_project(project: Path, code: str, args: list[str], env: dict[str, str]) -> dict:
    """Run a benchmark's inner script with the project's Python, in the project, and return the
    JSON it prints on its last line; stop the benchmark with its error output if it fails."""
    result = subprocess.run(
        [find_project_python(), "-c", code, *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"The benchmark failed inside the project:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def p95(values: list[float]) -> float:
    """The 95th percentile of values (the nearest rank below)."""
    return sorted(values)[max(0, int(len(values) * 0.95) - 1)]


def median_interval(values: list[float]) -> tuple[float, float, float]:
    """The median of values and a 95% confidence interval for it: the values whose ranks lie 1.96
    standard deviations of a fair coin's count either side of the middle, which assumes nothing
    about how the values are distributed."""
    ordered = sorted(values)
    outside = max(0, math.floor((len(ordered) - 1.96 * math.sqrt(len(ordered))) / 2))
    return statistics.median(ordered), ordered[outside], ordered[len(ordered) - 1 - outside]


def timing_table(timings: list[float], budget_seconds: float) -> str:
    """A one-row markdown table: median, min and max of wall times, against the budget."""
    median = statistics.median(timings)
    verdict = "within" if median < budget_seconds else "OVER"
    return "\n".join(
        [
            "| measured | runs | median | min | max | budget |",
            "| --- | --- | --- | --- | --- | --- |",
            f"| {date.today()} on {platform.machine()}, Python {platform.python_version()} "
            f"| {len(timings)} | {median:.2f} s | {min(timings):.2f} s | {max(timings):.2f} s "
            f"| {budget_seconds:.0f} s ({verdict}) |",
        ]
    )


def run(description: str, block: str, default_runs: int, report: Callable[[int], str]) -> int:
    """The benchmarks' command line: --runs N, and --write FILE to rewrite its block there."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--runs", type=int, default=default_runs)
    parser.add_argument("--write", type=Path, help="rewrite the table in this markdown file")
    options = parser.parse_args()
    result = report(options.runs)
    print(result)
    if options.write:
        replace_block(options.write, block, result)
    return 0


# The ways a worker can keep its PostgreSQL connection and make sure it still works, as settings
# added to the generated project's production settings, for benchmarks/connection_check.py and
# connection_cost.py (their cost) and connection_restart.py (their failed requests across a
# restart). psycopg 3's pool needs psycopg_pool, which the generated projects' lock files do not
# hold: it is installed, pinned by hash, into a folder of .cache that only the servers running a
# pool are given on their PYTHONPATH, so the projects' virtualenv stays as its lock file says.
POOL_REQUIREMENT = (
    "psycopg-pool==3.3.3 "
    "--hash=sha256:9b9cd6a4fcec47a410f7e82d408540e7f77b478509e91b44c1a5457a13e5ff37\n"
)
POOL_FOLDER = REPO / ".cache" / "bench-psycopg-pool-3.3.3"

URLS = 'ROOT_URLCONF = "bench_urls"'
# The pool replaces CONN_MAX_AGE (Django refuses both). One connection a process: a synchronous
# worker serves one request at a time. A request waits for a connection no longer than the
# project waits to open one (POSTGRES_CONNECT_TIMEOUT), not the pool's default 30 s, so that
# an outage is answered 503 within seconds as without the pool.
POOL = (
    'DATABASES["default"]["CONN_MAX_AGE"] = 0\n'
    'DATABASES["default"]["OPTIONS"]["pool"] = {"min_size": 1, "max_size": 1, "timeout": 3}'
)

# A check with no round trip: PostgreSQL ends a connection (a restart, a failover that stops the
# old server, pg_terminate_backend, idle_session_timeout) by sending an error and closing the
# socket, so a connection the server ended has something to read while a healthy idle one has
# nothing. Only then does it pay Django's round trip, which fails and replaces the connection.
POLL_BACKEND = '''"""PostgreSQL, with a health check that asks the socket before the server."""

import select

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self):
        if self.connection is None or self.connection.closed:
            return False
        poller = select.poll()
        poller.register(self.connection.fileno(), select.POLLIN)
        return not poller.poll(0) or super().is_usable()
'''

# Django's check, skipped when the connection was used less than IDLE_SECONDS ago: what a check
# "only after an idle time" is (Django has no such setting).
IDLE_BACKEND = '''"""PostgreSQL, with a health check only after the connection sat idle."""

import time

from django.db.backends.postgresql import base

IDLE_SECONDS = 5.0


class DatabaseWrapper(base.DatabaseWrapper):
    used_at = float("-inf")

    def close_if_health_check_failed(self):
        if time.monotonic() - self.used_at > IDLE_SECONDS:
            super().close_if_health_check_failed()

    def _cursor(self, name=None):
        cursor = super()._cursor(name)
        self.used_at = time.monotonic()
        return cursor
'''


@dataclass
class Design:
    label: str
    settings: str
    pool: bool = False
    # Files written into the project: path -> text.
    files: dict[str, str] = field(default_factory=dict)


DESIGNS = {
    "project": Design("as generated: `CONN_MAX_AGE=60`, `CONN_HEALTH_CHECKS` on", URLS),
    "nocheck": Design(
        "`CONN_MAX_AGE=60`, no check",
        f'{URLS}\nDATABASES["default"]["CONN_HEALTH_CHECKS"] = False',
    ),
    "pool": Design(
        "psycopg pool, `check=ConnectionPool.check_connection`", f"{URLS}\n{POOL}", pool=True
    ),
    "poolnocheck": Design(
        "psycopg pool, no check",
        f'{URLS}\n{POOL}\nDATABASES["default"]["CONN_HEALTH_CHECKS"] = False',
        pool=True,
    ),
    "poll": Design(
        "`CONN_MAX_AGE=60`, the check asks the socket first",
        f'{URLS}\nDATABASES["default"]["ENGINE"] = "bench_poll"',
        files={"bench_poll/__init__.py": "", "bench_poll/base.py": POLL_BACKEND},
    ),
    "idle": Design(
        "`CONN_MAX_AGE=60`, the check only after 5 s idle",
        f'{URLS}\nDATABASES["default"]["ENGINE"] = "bench_idle"',
        files={"bench_idle/__init__.py": "", "bench_idle/base.py": IDLE_BACKEND},
    ),
}


def pool_path(python: Path) -> str:
    """The folder holding psycopg_pool for python, installed by hash on first use."""
    if not (POOL_FOLDER / "psycopg_pool").is_dir():
        requirement = POOL_FOLDER.parent / f"{POOL_FOLDER.name}.txt"
        requirement.write_text(POOL_REQUIREMENT)
        done = subprocess.run(
            [
                *(python, "-m", "pip", "install", "--quiet", "--no-deps", "--require-hashes"),
                *("--target", str(POOL_FOLDER), "-r", str(requirement)),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            sys.exit(f"Installing psycopg-pool failed:\n{done.stderr}")
    return str(POOL_FOLDER)


def prepare(design: Design, project: Path, python: Path) -> dict[str, str]:
    """Write the design's files into project; the environment its server needs."""
    for name, text in design.files.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    return {"PYTHONPATH": pool_path(python)} if design.pool else {}
