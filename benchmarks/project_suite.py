"""Benchmark: the wall time of the generated projects' own test suites.

Generates a project for every answer set of the template's matrix (tests/answer_sets.py) and times
`pytest` in each, with the virtualenv the template's tests built for its Python version, the
SQLite database and the in-memory cache of the test settings (no network, no sleeps). Budget: under
30 s for each.

    .venv/bin/python benchmarks/project_suite.py [--runs 3] [--write docs/performance.md]
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import copier
from common import find_project_python, run

from tests.answer_sets import ANSWER_SETS
from tests.helpers import copy_template

BUDGET_SECONDS = 30


def time_suite(project: Path, python: Path) -> tuple[float, int]:
    """Seconds for one run of the project's suite, and the number of tests that passed."""
    start = time.perf_counter()
    result = subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        # The test settings only: nothing of this shell's Django or test services.
        env={
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("DJANGO_", "TEST_"))
        },
    )
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"The suite of {project.name} failed:\n{result.stdout[-3000:]}")
    passed = re.search(r"(\d+) passed", result.stdout)
    return elapsed, int(passed.group(1)) if passed else 0


def report(runs: int) -> str:
    rows = []
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        template = copy_template(scratch / "template")
        for name, answers in ANSWER_SETS.items():
            project = scratch / name
            copier.run_copy(
                str(template), project, data=answers, defaults=True, unsafe=True, quiet=True
            )
            python = find_project_python(str(answers.get("python_version", "3.12")))
            timings, tests = [], 0
            for _ in range(runs):
                elapsed, tests = time_suite(project, python)
                timings.append(elapsed)
            rows.append((name, tests, timings))
    slowest = max(statistics.median(timings) for _, _, timings in rows)
    verdict = "within" if slowest < BUDGET_SECONDS else "OVER"
    return "\n".join(
        [
            f"Measured {date.today()} on {platform.machine()}, {runs} runs of each suite "
            "(`pytest` in the generated project, wall time including start-up).",
            "",
            "| answer set | tests | median | min | max |",
            "| --- | --- | --- | --- | --- |",
            *(
                f"| {name} | {tests} | {statistics.median(timings):.1f} s "
                f"| {min(timings):.1f} s | {max(timings):.1f} s |"
                for name, tests, timings in rows
            ),
            "",
            f"Budget: under {BUDGET_SECONDS} s for each suite ({verdict}; the slowest median is "
            f"{slowest:.1f} s).",
        ]
    )


def main() -> int:
    return run(__doc__.splitlines()[0], "project-suite", 3, report)


if __name__ == "__main__":
    sys.exit(main())
