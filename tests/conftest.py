"""Shared helpers for the template's tests: a clean copy of the template, the generated projects'
Python environment (built once, from the hashed lock file), and a project generator."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import copier
import pytest
from filelock import FileLock

from .helpers import CACHE, LOCK_FILE, REPO, copy_template, project_env_dir
from .services import postgres_server, redis_server

DEFAULT_PYTHON_VERSION = "3.12"
# A generated projects' environment unused for this long is removed (project_python_for).
UNUSED_ENV_SECONDS = 3 * 24 * 3600


def pytest_configure(config: pytest.Config) -> None:
    CACHE.mkdir(exist_ok=True)


# The fixtures below that start a system server: a test that uses one belongs to the servers tier,
# which `make test-fast` leaves out.
SERVER_FIXTURES = {"postgres", "redis"}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Fail a test that would start a server without saying so, before the server starts:
    `make test-fast` would otherwise start it."""
    used = SERVER_FIXTURES & set(getattr(item, "fixturenames", ()))
    if used and item.get_closest_marker("servers") is None:
        pytest.fail(
            f"{item.nodeid} uses {', '.join(sorted(used))} but lacks @pytest.mark.servers",
            pytrace=False,
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> pytest.TestReport:
    """A skip is a failure here: a test that cannot run on this machine (a server, a package or
    root missing) must not let `make test` pass. Tiers deselect with -m instead."""
    report = yield
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped, which this suite never allows: {reason}"
    return report


@pytest.fixture(scope="session")
def template_src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template as a plain folder, so Copier renders the working tree, not a git ref."""
    return copy_template(tmp_path_factory.mktemp("template-src"))


def find_python(version: str | None = None) -> str | None:
    """Path of a Python `version` (3.12+ when None), as scripts/find-python finds it, or None."""
    minor = [version.split(".")[1]] if version else []
    result = subprocess.run(
        [REPO / "scripts" / "find-python", *minor], capture_output=True, text=True, check=False
    )
    return result.stdout.strip() if result.returncode == 0 else None


ProjectPython = Callable[[str], Path]


@pytest.fixture(scope="session")
def project_python_for() -> ProjectPython:
    """Return the interpreter of the generated projects' virtualenv for a Python version.

    One virtualenv per Python version, shared by every generated project that targets it. It is
    installed with --require-hashes from the template's dev lock file, which proves the lock
    installs, and rebuilt only when that file changes; a file lock keeps xdist workers from building
    it twice. Where the exact version is missing, the newest Python 3.12+ stands in, with a warning.
    """

    def python_for(version: str) -> Path:
        base_python = find_python(version)
        if base_python is None:
            base_python = find_python()
            if base_python is None:
                pytest.fail("No Python 3.12+ found; see scripts/find-python.")
            warnings.warn(
                f"Python {version} not found; testing its projects with {base_python}",
                stacklevel=2,
            )
        actual = subprocess.run(
            [base_python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        env_dir = project_env_dir(actual)
        python = env_dir / "bin" / "python"
        env_dir.parent.mkdir(exist_ok=True)
        with FileLock(str(env_dir.parent / f"py{actual}.lock")):
            # Environments of other lock files go once unused for a while, not at once: clones of
            # the template that share .cache (git worktrees) may be testing with theirs right now.
            for stale in env_dir.parent.glob(f"py{actual}-*/.last-used"):
                if time.time() - stale.stat().st_mtime > UNUSED_ENV_SECONDS:
                    shutil.rmtree(stale.parent, ignore_errors=True)
            if not (env_dir / ".complete").exists():
                shutil.rmtree(env_dir, ignore_errors=True)
                subprocess.run([base_python, "-m", "venv", env_dir], check=True)
                subprocess.run(
                    [
                        python,
                        "-m",
                        "pip",
                        "install",
                        "--quiet",
                        "--require-hashes",
                        "-r",
                        LOCK_FILE,
                    ],
                    check=True,
                    env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
                )
                (env_dir / ".complete").touch()
            (env_dir / ".last-used").touch()
        return python

    return python_for


@pytest.fixture(scope="session")
def project_python(project_python_for: ProjectPython) -> Path:
    """The generated projects' interpreter for the default python_version answer."""
    return project_python_for(DEFAULT_PYTHON_VERSION)


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


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A PostgreSQL server for this session (its URL, without a database name)."""
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis server for this session (its URL, without a database number)."""
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url
