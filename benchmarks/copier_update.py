"""Benchmark: wall time of `copier update` across one release, on a default project.

Builds a template repository with the newest release in CHANGELOG.md and the working tree as the
next release, generates a default project at the first, commits it, and times
`copier update --trust --defaults` to the second, several times from fresh copies. With --write,
it rewrites the "copier-update" table of docs/performance.md. Budget: 10 s.

    .venv/bin/python benchmarks/copier_update.py [--runs 5] [--write docs/performance.md]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import run, timing_table

from tests.test_update import generate_and_commit, releases, template_repository

COPIER = Path(sys.executable).parent / "copier"
BUDGET_SECONDS = 10.0


def time_runs(runs: int) -> list[float]:
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        release = releases()[-1]
        template = template_repository(scratch, release)
        original = scratch / "original"
        generate_and_commit(template, original, f"v{release[0]}", {})
        timings = []
        for number in range(runs):
            project = scratch / f"project-{number}"
            shutil.copytree(original, project)
            command = [COPIER, "update", "--trust", "--defaults", "--quiet"]
            start = time.perf_counter()
            subprocess.run(command, cwd=project, check=True, capture_output=True)
            timings.append(time.perf_counter() - start)
        return timings


def main() -> int:
    return run(
        __doc__.splitlines()[0],
        "copier-update",
        5,
        lambda runs: timing_table(time_runs(runs), BUDGET_SECONDS),
    )


if __name__ == "__main__":
    sys.exit(main())
