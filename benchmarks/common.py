"""What the benchmark scripts share: the command line, the results table, docs/performance.md,
and the views the request benchmarks serve."""

from __future__ import annotations

import argparse
import json
import math
import platform
import re
import statistics
import subprocess
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Importing this module lets the benchmarks import the template tests' helpers (tests.helpers).
sys.path.insert(0, str(REPO))


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
