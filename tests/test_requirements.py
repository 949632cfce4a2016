"""The generated projects' lock files are complete, hashed, and consistent with their .in files."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from .conftest import REPO, run

REQUIREMENTS = REPO / "template" / "requirements"
LAYERS = ["base", "prod", "dev"]
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==(\S+) \\$", re.M)
HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")


def pins(lock: str) -> dict[str, str]:
    return {name.lower(): version for name, version in PIN.findall(lock)}


def hashes_by_package(lock: str) -> dict[str, set[str]]:
    """Map each pinned package to the hashes listed under it."""
    result: dict[str, set[str]] = {}
    current = None
    for line in lock.splitlines():
        if match := PIN.match(line):
            current = match.group(1).lower()
            result[current] = set()
        elif current and (found := HASH.search(line)):
            result[current].add(found.group(1))
    return result


@pytest.mark.parametrize("layer", LAYERS)
def test_every_pin_carries_hashes_and_no_machine_specific_option(layer):
    lock = (REQUIREMENTS / f"{layer}.txt").read_text()

    assert pins(lock), "no pinned requirement found"
    assert all(hashes_by_package(lock).values()), "a pinned requirement has no hash"
    for option in ("--find-links", "--index-url", "--extra-index-url", "file://"):
        assert option not in lock


def test_each_layer_contains_the_one_below_at_the_same_versions():
    base, prod, dev = (pins((REQUIREMENTS / f"{layer}.txt").read_text()) for layer in LAYERS)

    assert base.items() <= prod.items()
    assert prod.items() <= dev.items()


def test_the_lock_files_match_the_in_files(project_python, tmp_path):
    """Recompile from the .in files, keeping the current pins: nothing may be added or dropped.

    pip-compile only moves a pin when the .in files ask for it, so any difference means an .in file
    changed without scripts/compile-requirements being run. Hashes may only grow (PyPI can gain
    wheels for a release), never change.
    """
    work = tmp_path / "requirements"
    shutil.copytree(REQUIREMENTS, work)
    pip_compile = Path(project_python).parent / "pip-compile"

    for layer in LAYERS:
        result = run(
            [
                pip_compile,
                "--quiet",
                "--generate-hashes",
                "--allow-unsafe",
                "--strip-extras",
                "--no-emit-index-url",
                "--no-emit-find-links",
                f"requirements/{layer}.in",
            ],
            cwd=tmp_path,
            PIP_CONFIG_FILE=os.devnull,
        )
        assert result.returncode == 0, result.stderr

        shipped = (REQUIREMENTS / f"{layer}.txt").read_text()
        recompiled = (work / f"{layer}.txt").read_text()
        assert pins(recompiled) == pins(shipped), (
            f"{layer}.txt is stale: run scripts/compile-requirements"
        )
        for package, shipped_hashes in hashes_by_package(shipped).items():
            assert shipped_hashes <= hashes_by_package(recompiled)[package], package
