"""Benchmark: wall time of `copier update` across one release, on a default project.

Builds a template repository with the newest release in CHANGELOG.md and the working tree as the
next release, generates a default project at the first, commits it, and times
`copier update --trust --defaults` to the second, several times from fresh copies. With --write,
it rewrites the "copier-update" table of docs/performance.md. Budget: 10 s.

    .venv/bin/python benchmarks/copier_update.py [--runs 5] [--write docs/performance.md]
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.helpers import replace_block  # noqa: E402
from tests.test_update import generate_and_commit, releases, template_repository  # noqa: E402

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
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--write", type=Path, help="rewrite the table in this markdown file")
    options = parser.parse_args()
    result = table(time_runs(options.runs))
    print(result)
    if options.write:
        replace_block(options.write, "copier-update", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
