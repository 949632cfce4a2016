"""`make test` begins by listing what the machine lacks, each with its Debian package, before it
runs anything; .ci/run installs the packages of that same list."""

from __future__ import annotations

import os
import shutil
import subprocess

from .helpers import REPO

CHECK = REPO / "scripts" / "check-machine"


def bare_path(tmp_path):
    """A PATH with the shell's basic tools only: no Python, servers, browser or tmux."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "ls", "cat"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    return str(bin_dir)


def test_it_lists_each_missing_need_with_its_debian_package(tmp_path):
    env = {"PATH": bare_path(tmp_path), "HOME": str(tmp_path)}

    listed = subprocess.run(["/bin/sh", CHECK], env=env, capture_output=True, text=True)
    packages = subprocess.run(
        ["/bin/sh", CHECK, "--packages"], env=env, capture_output=True, text=True, check=True
    )

    assert listed.returncode == 1
    for what, package in [
        ("Python 3.12 or newer", "python3"),
        ("tmux", "tmux"),
        ("Redis", "redis-server"),
        ("Chromium", "chromium"),
        ("Caddy", "caddy"),
        ("Node.js and npm", "nodejs npm"),
    ]:
        assert f"  {what}" in listed.stdout
        assert f"(Debian: {package})" in listed.stdout
        assert set(package.split()) <= set(packages.stdout.split())
    assert "Install them with: sudo apt-get install " in listed.stdout
    assert "make test-fast" in listed.stdout


def test_make_test_checks_the_machine_before_anything_else():
    dry_run = subprocess.run(
        ["make", "-n", "--no-print-directory", "test", "VENV=/nonexistent-venv"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        # Run from `make test` (.ci/run), this make is a nested one: no "Entering directory" line.
        env={**os.environ, "MAKEFLAGS": ""},
    )

    assert dry_run.stdout.splitlines()[0] == "scripts/check-machine"


def test_ci_installs_what_the_check_lists():
    ci = (REPO / ".ci" / "run").read_text()

    assert "missing=$(scripts/check-machine --packages)" in ci
    assert ci.index("apt-get install -y -qq $missing") < ci.index("exec make test")
