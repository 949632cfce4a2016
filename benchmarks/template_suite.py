"""Benchmark: the template's own test suite, and where its time goes.

Runs the suite as `make test` does (pytest with xdist, one worker per core, grouped as the Makefile
groups them) with the virtualenvs already in .cache, and reports its wall time and the slowest
tests. A clean clone first builds those virtualenvs; `.ci/run` from a clean clone measures that
(see docs/performance.md). Budget: under 25 minutes on 2 cores.

    .venv/bin/python benchmarks/template_suite.py [--runs 1] [--write docs/performance.md]
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import subprocess
import sys
import time
from datetime import date

from common import REPO, run

BUDGET_SECONDS = 25 * 60
SLOWEST = 10


def run_suite() -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(
        [
            REPO / ".venv" / "bin" / "python",
            *("-m", "pytest", "-n", "auto", "--dist", "loadgroup"),
            *(f"--durations={SLOWEST}", "-q"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        env=os.environ,
    )
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"The template's suite failed:\n{result.stdout[-3000:]}")
    return elapsed, result.stdout


def slowest(output: str) -> list[tuple[float, str]]:
    """The (seconds, test) lines of pytest's --durations report."""
    return [
        (float(seconds), what)
        for seconds, what in re.findall(r"^([\d.]+)s (?:call|setup|teardown)\s+(\S+)", output, re.M)
    ]


def report(runs: int) -> str:
    timings, output = [], ""
    for _ in range(runs):
        elapsed, output = run_suite()
        timings.append(elapsed)
    passed = re.search(r"(\d+) passed", output)
    median = statistics.median(timings)
    verdict = "within" if median < BUDGET_SECONDS else "OVER"
    return "\n".join(
        [
            f"Measured {date.today()} on {platform.machine()} ({os.cpu_count()} cores), "
            f"{runs} run(s), {passed.group(1) if passed else '?'} tests, an xdist worker per core: "
            f"median {median:.0f} s; budget {BUDGET_SECONDS // 60} minutes ({verdict}).",
            "",
            "| slowest steps (one worker's time) | seconds |",
            "| --- | --- |",
            *(f"| `{what}` | {seconds:.1f} |" for seconds, what in slowest(output)),
        ]
    )


def main() -> int:
    return run(__doc__.splitlines()[0], "template-suite", 1, report)


if __name__ == "__main__":
    sys.exit(main())
