"""The generated test suites pass on PostgreSQL and Redis too, as the generated CI runs them.

The servers come from Debian's packages (postgresql, redis-server; .ci/run installs them) and are
started here on loopback ports, in temporary folders, for this test session only.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import copier
import pytest

from .answer_sets import ANSWER_SETS
from .conftest import run
from .helpers import free_port


def as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root; CI and these machines run the tests as root."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture(scope="session")
def postgres() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail("PostgreSQL is not installed (Debian: postgresql; .ci/run installs it)")
    bindir = Path(found[-1]).parent
    # Not under pytest's own temporary folder, which only its owner may enter.
    data = Path(tempfile.mkdtemp(prefix="fortress-postgres-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres")
    port = free_port()
    init = run(
        as_postgres([bindir / "initdb", "-D", data, "-A", "trust", "-U", "fortress"]), cwd=data
    )
    assert init.returncode == 0, init.stderr
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    start = run(
        as_postgres(
            [bindir / "pg_ctl", "-D", data, "-o", options, "-l", data / "log", "-w", "start"]
        ),
        cwd=data,
    )
    assert start.returncode == 0, start.stderr + (data / "log").read_text()
    yield f"postgres://fortress@127.0.0.1:{port}/fortress"
    run(as_postgres([bindir / "pg_ctl", "-D", data, "-m", "immediate", "stop"]), cwd=data)
    shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="session")
def redis(tmp_path_factory) -> str:
    server = shutil.which("redis-server")
    if not server:
        pytest.fail("Redis is not installed (Debian: redis-server; .ci/run installs it)")
    port = free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp_path_factory.mktemp("redis"),
        stdout=subprocess.DEVNULL,
    )
    for _ in range(50):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        process.poll()
        assert process.returncode is None, "redis-server exited"
        subprocess.run(["sleep", "0.1"], check=True)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(timeout=10)


@pytest.mark.parametrize("answer_set", ["defaults", "docker-apache"])
def test_the_generated_suite_passes_on_postgresql_and_redis(
    answer_set, template_src, tmp_path, postgres, redis, project_python_for
):
    answers = ANSWER_SETS[answer_set]
    project = tmp_path / "project"
    copier.run_copy(
        str(template_src), project, data=answers, defaults=True, unsafe=True, quiet=True
    )
    python = project_python_for(answers.get("python_version", "3.12"))
    # Each suite gets its own database (pytest-django adds the test_ prefix) and Redis database.
    database = f"{postgres}_{answer_set.replace('-', '_')}"
    redis_db = f"{redis[:-1]}{1 + list(ANSWER_SETS).index(answer_set)}"

    result = run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        TEST_DATABASE_URL=database,
        TEST_REDIS_URL=redis_db,
    )

    assert result.returncode == 0, result.stdout[-4000:]
    assert " passed" in result.stdout
