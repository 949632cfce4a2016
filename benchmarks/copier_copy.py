"""Benchmark: wall time of `copier copy --trust --defaults` of this template.

Prints the median and spread of several runs, each into a fresh folder, from a plain copy of the
template (no git history, so the figure is rendering and the post-copy task, not cloning). With
--write, it also rewrites the "copier copy" table of docs/performance.md. Budget: 3 s.

    .venv/bin/python benchmarks/copier_copy.py [--runs 7] [--write docs/performance.md]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import run, timing_table

from tests.helpers import copy_template

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


def main() -> int:
    return run(
        __doc__.splitlines()[0],
        "copier-copy",
        7,
        lambda runs: timing_table(time_runs(runs), BUDGET_SECONDS),
    )


if __name__ == "__main__":
    sys.exit(main())
