"""The ways a worker can keep its PostgreSQL connection and make sure it still works, as settings
added to the generated project's production settings, for benchmarks/connection_check.py
(their cost on a page) and benchmarks/connection_restart.py (their failed requests across a
restart).

psycopg 3's pool needs psycopg_pool, which the generated projects' lock files do not hold: it is
installed, pinned by hash, into a folder of .cache that only the servers running a pool are given
on their PYTHONPATH, so the projects' virtualenv stays as its lock file says.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from common import REPO

POOL_REQUIREMENT = (
    "psycopg-pool==3.3.3 "
    "--hash=sha256:9b9cd6a4fcec47a410f7e82d408540e7f77b478509e91b44c1a5457a13e5ff37\n"
)
POOL_FOLDER = REPO / ".cache" / "bench-psycopg-pool-3.3.3"

URLS = 'ROOT_URLCONF = "bench_urls"'
# The pool replaces CONN_MAX_AGE (Django refuses both). One connection a process: a synchronous
# worker serves one request at a time. A request waits for a connection no longer than the
# project waits to open one (POSTGRES_CONNECT_TIMEOUT), not the pool's default 30 s, so that
# an outage is answered 503 within seconds as without the pool.
POOL = (
    'DATABASES["default"]["CONN_MAX_AGE"] = 0\n'
    'DATABASES["default"]["OPTIONS"]["pool"] = {"min_size": 1, "max_size": 1, "timeout": 3}'
)

# A check with no round trip: PostgreSQL ends a connection (a restart, a failover that stops the
# old server, pg_terminate_backend, idle_session_timeout) by sending an error and closing the
# socket, so a connection the server ended has something to read while a healthy idle one has
# nothing. Only then does it pay Django's round trip, which fails and replaces the connection.
POLL_BACKEND = '''"""PostgreSQL, with a health check that asks the socket before the server."""

import select

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self):
        if self.connection is None or self.connection.closed:
            return False
        poller = select.poll()
        poller.register(self.connection.fileno(), select.POLLIN)
        return not poller.poll(0) or super().is_usable()
'''

# Django's check, skipped when the connection was used less than IDLE_SECONDS ago: what a check
# "only after an idle time" is (Django has no such setting).
IDLE_BACKEND = '''"""PostgreSQL, with a health check only after the connection sat idle."""

import time

from django.db.backends.postgresql import base

IDLE_SECONDS = 5.0


class DatabaseWrapper(base.DatabaseWrapper):
    used_at = float("-inf")

    def close_if_health_check_failed(self):
        if time.monotonic() - self.used_at > IDLE_SECONDS:
            super().close_if_health_check_failed()

    def _cursor(self, name=None):
        cursor = super()._cursor(name)
        self.used_at = time.monotonic()
        return cursor
'''


@dataclass
class Design:
    label: str
    settings: str
    pool: bool = False
    # Files written into the project: path -> text.
    files: dict[str, str] = field(default_factory=dict)


DESIGNS = {
    "project": Design("as generated: `CONN_MAX_AGE=60`, `CONN_HEALTH_CHECKS` on", URLS),
    "nocheck": Design(
        "`CONN_MAX_AGE=60`, no check",
        f'{URLS}\nDATABASES["default"]["CONN_HEALTH_CHECKS"] = False',
    ),
    "pool": Design(
        "psycopg pool, `check=ConnectionPool.check_connection`", f"{URLS}\n{POOL}", pool=True
    ),
    "poolnocheck": Design(
        "psycopg pool, no check",
        f'{URLS}\n{POOL}\nDATABASES["default"]["CONN_HEALTH_CHECKS"] = False',
        pool=True,
    ),
    "poll": Design(
        "`CONN_MAX_AGE=60`, the check asks the socket first",
        f'{URLS}\nDATABASES["default"]["ENGINE"] = "bench_poll"',
        files={"bench_poll/__init__.py": "", "bench_poll/base.py": POLL_BACKEND},
    ),
    "idle": Design(
        "`CONN_MAX_AGE=60`, the check only after 5 s idle",
        f'{URLS}\nDATABASES["default"]["ENGINE"] = "bench_idle"',
        files={"bench_idle/__init__.py": "", "bench_idle/base.py": IDLE_BACKEND},
    ),
}


def pool_path(python: Path) -> str:
    """The folder holding psycopg_pool for python, installed by hash on first use."""
    if not (POOL_FOLDER / "psycopg_pool").is_dir():
        requirement = POOL_FOLDER.with_suffix(".txt")
        requirement.write_text(POOL_REQUIREMENT)
        done = subprocess.run(
            [
                *(python, "-m", "pip", "install", "--quiet", "--no-deps", "--require-hashes"),
                *("--target", str(POOL_FOLDER), "-r", str(requirement)),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            sys.exit(f"Installing psycopg-pool failed:\n{done.stderr}")
    return str(POOL_FOLDER)


def prepare(design: Design, project: Path, python: Path) -> dict[str, str]:
    """Write the design's files into project; the environment its server needs."""
    for name, text in design.files.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    return {"PYTHONPATH": pool_path(python)} if design.pool else {}
