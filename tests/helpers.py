"""Helpers shared by the template's tests and benchmarks (no pytest here)."""

from __future__ import annotations

import hashlib
import re
import shutil
import socket
import subprocess
import tempfile
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


def systemd_analyze(*arguments: str | Path) -> subprocess.CompletedProcess[str]:
    """Run Debian's systemd-analyze with arguments; its output as text."""
    program = shutil.which("systemd-analyze")
    if program is None:
        raise FileNotFoundError("systemd-analyze is missing: install Debian's systemd")
    return subprocess.run(
        [program, *map(str, arguments)], capture_output=True, text=True, check=False
    )


def sandbox_exposure(unit: Path) -> tuple[float, str]:
    """`systemd-analyze security`'s overall exposure of a service unit file (0 to 10, lower is
    tighter), and everything it printed."""
    rated = systemd_analyze("security", "--offline=true", "--no-pager", unit)
    output = rated.stdout + rated.stderr
    exposure = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", rated.stdout)
    if exposure is None:
        raise AssertionError(output)
    return float(exposure.group(1)), output


def verify_units(*units: Path) -> subprocess.CompletedProcess[str]:
    """`systemd-analyze verify` of unit files as installed on a server: in a root of their own,
    beside Debian's units (the targets they name), with the programs their Exec lines run present
    as stubs, since those live on the server (the virtualenv in /srv), not here."""
    with tempfile.TemporaryDirectory(prefix="systemd-root-") as scratch:
        root = Path(scratch)
        shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
        installed = root / "etc/systemd/system"
        installed.mkdir(parents=True)
        for unit in units:
            shutil.copy(unit, installed / unit.name)
            for program in re.findall(r"^Exec\w+=[-@:+!]*(/\S+)", unit.read_text(), re.M):
                stub = root / program.lstrip("/")
                stub.parent.mkdir(parents=True, exist_ok=True)
                stub.write_text("#!/bin/sh\n")
                stub.chmod(0o755)
        return systemd_analyze(
            "verify", "--man=no", f"--root={root}", *(installed / unit.name for unit in units)
        )
