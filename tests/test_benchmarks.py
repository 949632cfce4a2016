"""The benchmark scripts start: each imports what it borrows from these tests and parses its
command line, and `make bench` runs every one of them.

The benchmarks themselves are not run here: they take minutes and want a quiet machine
(docs/performance.md). But they import the tests' helpers, and a helper renamed in the tests once
broke a benchmark that nobody ran until the next `make bench`.
"""

import subprocess
import sys

import pytest

from .helpers import REPO

BENCHMARKS = REPO / "benchmarks"
SCRIPTS = sorted(path.name for path in BENCHMARKS.glob("*.py") if path.name != "common.py")


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_benchmark_starts(script):
    started = subprocess.run(
        [sys.executable, BENCHMARKS / script, "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )

    assert started.returncode == 0, started.stderr
    assert "--runs" in started.stdout and "--write" in started.stdout


def test_make_bench_runs_every_benchmark():
    makefile = (REPO / "Makefile").read_text()
    bench = makefile.split("\nbench:", 1)[1].split("\n\n", 1)[0]

    assert [script for script in SCRIPTS if f"benchmarks/{script} " not in bench] == []
