"""Helpers shared by the template's tests and benchmarks (no pytest here)."""

from __future__ import annotations

import hashlib
import shutil
import socket
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# What Copier reads: everything else in the repository is the template's own tooling.
TEMPLATE_FILES = ["copier.yml", "template", "hooks"]


CACHE = REPO / ".cache"
LOCK_FILE = REPO / "template" / "requirements" / "dev.txt"


def project_env_dir(python_version: str) -> Path:
    """The generated projects' virtualenv for a Python version and the current dev lock file."""
    digest = hashlib.sha256(LOCK_FILE.read_bytes()).hexdigest()[:12]
    return CACHE / "project-envs" / f"py{python_version}-{digest}"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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
