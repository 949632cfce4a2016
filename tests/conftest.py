"""Shared helpers for the template's tests: a clean copy of the template, the generated projects'
Python environment (built once, from the hashed lock file), and a project generator."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import copier
import pytest
from filelock import FileLock

REPO = Path(__file__).resolve().parent.parent
TEMPLATE_FILES = ["copier.yml", "template", "hooks"]
LOCK_FILE = REPO / "template" / "requirements" / "dev.txt"
CACHE = REPO / ".cache"


def pytest_configure(config: pytest.Config) -> None:
    CACHE.mkdir(exist_ok=True)


@pytest.fixture(scope="session")
def template_src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template as a plain folder, so Copier renders the working tree, not a git ref."""
    src = tmp_path_factory.mktemp("template-src")
    for name in TEMPLATE_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, src / name)
    return src


def find_project_python() -> str:
    """A Python 3.12+ for the generated projects (scripts/find-python explains where it looks)."""
    result = subprocess.run(
        [REPO / "scripts" / "find-python"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.fail(result.stderr.strip())
    return result.stdout.strip()


@pytest.fixture(scope="session")
def project_python() -> Path:
    """The interpreter of one virtualenv shared by every generated project's tests.

    It is installed with --require-hashes from the template's own dev lock file, which proves the
    lock installs, and rebuilt only when that file changes. A file lock keeps xdist workers from
    building it twice.
    """
    digest = hashlib.sha256(LOCK_FILE.read_bytes()).hexdigest()[:12]
    env_dir = CACHE / f"project-env-{digest}"
    python = env_dir / "bin" / "python"
    with FileLock(str(CACHE / "project-env.lock")):
        if not (env_dir / ".complete").exists():
            shutil.rmtree(env_dir, ignore_errors=True)
            base_python = find_project_python()
            subprocess.run([base_python, "-m", "venv", env_dir], check=True)
            subprocess.run(
                [python, "-m", "pip", "install", "--quiet", "--require-hashes", "-r", LOCK_FILE],
                check=True,
                env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
            )
            (env_dir / ".complete").touch()
    return python


Generate = Callable[..., Path]


@pytest.fixture
def generate(template_src: Path, tmp_path: Path) -> Generate:
    """Render the template with --defaults plus the given answers; return the project folder."""

    def run(dst: Path | None = None, **answers: object) -> Path:
        dst = dst or tmp_path / "project"
        copier.run_copy(
            str(template_src),
            dst,
            data=answers,
            defaults=True,
            unsafe=True,
            quiet=True,
        )
        return dst

    return run


def run(command: list[str | Path], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a command, returning its result; the caller asserts on returncode and output."""
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env},
    )
