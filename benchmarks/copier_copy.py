"""Benchmark: wall time of `copier copy --trust --defaults` of this template.

Prints the median and spread of several runs, each into a fresh folder, from a plain copy of the
template (no git history, so the figure is rendering and the post-copy task, not cloning). With
--write, it also rewrites the "copier copy" table of docs/performance.md. Budget (DESIGN.md): 3 s.

    .venv/bin/python benchmarks/copier_copy.py [--runs 7] [--write docs/performance.md]
"""

from __future__ import annotations

import argparse
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COPIER = Path(sys.executable).parent / "copier"
BUDGET_SECONDS = 3.0
BEGIN, END = "<!-- copier-copy:begin -->", "<!-- copier-copy:end -->"


def time_runs(runs: int) -> list[float]:
    with tempfile.TemporaryDirectory() as scratch:
        src = Path(scratch) / "template"
        src.mkdir()
        for name in ["copier.yml", "template", "hooks"]:
            source = REPO / name
            if source.is_dir():
                shutil.copytree(source, src / name)
            else:
                shutil.copy2(source, src / name)
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
            BEGIN,
            "| measured | runs | median | min | max | budget |",
            "| --- | --- | --- | --- | --- | --- |",
            f"| {date.today()} on {platform.machine()}, Python {platform.python_version()} "
            f"| {len(timings)} | {median:.2f} s | {min(timings):.2f} s | {max(timings):.2f} s "
            f"| {BUDGET_SECONDS:.0f} s ({verdict}) |",
            END,
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--write", type=Path, help="rewrite the table in this markdown file")
    options = parser.parse_args()

    timings = time_runs(options.runs)
    result = table(timings)
    print(result)
    if options.write:
        text = options.write.read_text()
        pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
        if not pattern.search(text):
            print(f"{options.write} has no {BEGIN} ... {END} block", file=sys.stderr)
            return 1
        options.write.write_text(pattern.sub(lambda _: result, text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
