#!/usr/bin/env python3
"""Count the Jinja control lines (`{%`) inside the templates of generated Python, per file.

The rule of docs/design.md: Jinja decides which files exist and writes settings; Python reads
settings. A control line inside generated Python is a decision taken in the middle of code; this
count shows where they remain. With --write, it rewrites the table of docs/design.md, which
tests/test_docs.py keeps equal to what this script counts.

    .venv/bin/python scripts/jinja_in_python.py [--write docs/design.md]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = REPO / "template"
BEGIN, END = "<!-- jinja-in-python:begin -->", "<!-- jinja-in-python:end -->"
# A path's own conditions ({% if mfa != 'none' %}mfa.py{% endif %}) decide whether the file exists:
# that is the rule, not a line of code.
PATH_CONDITION = re.compile(r"\{%.*?%\}")


def generated_python() -> list[Path]:
    """The templates that render to a .py file (their name, conditions aside, ends in .py.jinja)."""
    return sorted(
        path
        for path in TEMPLATE.rglob("*.jinja")
        if PATH_CONDITION.sub("", path.name).endswith(".py.jinja")
    )


def control_lines(path: Path) -> int:
    return sum("{%" in line for line in path.read_text().splitlines())


def counts() -> dict[str, int]:
    """Each template of generated Python with control lines, by its path under template/."""
    found = {str(path.relative_to(TEMPLATE)): control_lines(path) for path in generated_python()}
    return {path: lines for path, lines in found.items() if lines}


def table() -> str:
    found = counts()
    rows = sorted(found.items(), key=lambda row: (-row[1], row[0]))
    lines = [
        f"{sum(found.values())} control lines in {len(found)} of {len(generated_python())} "
        "templates of generated Python.",
        "",
        "| lines | template |",
        "| ---: | --- |",
        *(f"| {count} | `{path}` |" for path, count in rows),
    ]
    return "\n".join(lines)


def write(doc: Path) -> None:
    text = doc.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    doc.write_text(f"{text[:start]}\n{table()}\n{text[end:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="rewrite the table of this document")
    args = parser.parse_args()
    print(table())
    if args.write:
        write(args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
