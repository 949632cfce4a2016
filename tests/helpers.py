"""Helpers shared by the template's tests and benchmarks (no pytest here)."""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# What Copier reads: everything else in the repository is the template's own tooling.
TEMPLATE_FILES = ["copier.yml", "template", "hooks"]


def copy_template(dst: Path) -> Path:
    """Copy the template's working tree to dst (created), without git history or caches."""
    dst.mkdir(parents=True, exist_ok=True)
    for name in TEMPLATE_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, dst / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, dst / name)
    return dst
