"""Benchmark: wall time of `copier copy --trust --defaults` of this template.

Prints the median and spread of several runs, each into a fresh folder, from a plain copy of the
template (no git history, so the figure is rendering and the post-copy task, not cloning). With
--write, it also rewrites the "copier copy" table of docs/performance.md. Budget: 3 s.

    .venv/bin/python benchmarks/copier_copy.py [--runs 7] [--write docs/performance.md]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.helpers import copy_template, replace_block  # noqa: E402

COPIER = Path(sys.executable).parent / "copier"
BUDGET_SECONDS = 3.0


def time_runs(runs: int) -> list[float]:
    with tempfile.TemporaryDirectory() as scratch:
        src = copy_template(Path(scratch) / "template")
        timings = []
        for number in range(runs):
            dst = Path(scratch) / f"project-{number}"
            command = [COPIER, "copy", "--trust", "--defaults", "--quiet", src, dst]
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            timings.append(time.perf_counter() - start)
        return timings


def table(timings: list[float]) -> str:
    median = statistics.median(timings)
    verdict = "within" if median < BUDGET_SECONDS else "OVER"
    return "\n".join(
        [
            "| measured | runs | median | min | max | budget |",
            "| --- | --- | --- | --- | --- | --- |",
            f"| {date.today()} on {platform.machine()}, Python {platform.python_version()} "
            f"| {len(timings)} | {median:.2f} s | {min(timings):.2f} s | {max(timings):.2f} s "
            f"| {BUDGET_SECONDS:.0f} s ({verdict}) |",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--write", type=Path, help="rewrite the table in this markdown file")
    options = parser.parse_args()

    result = table(time_runs(options.runs))
    print(result)
    if options.write:
        replace_block(options.write, "copier-copy", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
