"""Benchmark: how long `manage.py backup` and `manage.py restore_backup` take on a real database.

Generates a project with the defaults, on a PostgreSQL started for the run, fills its database
to --size-mb MiB (rows of a filler table: random hex text, which compresses about as well as
real rows do) and its upload folder with a tenth of that in random files (which do not
compress), then backs up and restores into an emptied database and folder --runs times, checking
each restore's row count and bytes.
Prints the sizes, the times and the throughput; with --write, rewrites the "backup" block of
docs/performance.md.

    .venv/bin/python benchmarks/backup.py [--runs 3] [--size-mb 1024] [--write docs/performance.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import copier
from common import find_project_python, replace_block

from tests.helpers import copy_template
from tests.services import create_database, postgres_server, prepare_site, run

# Inside the project: add rows, about a MiB at a time, until the database is BENCH_SIZE_MB MiB.
FILL = r"""
import os
from django.db import connection
size = int(os.environ["BENCH_SIZE_MB"]) * 1024 * 1024
with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE bench_filler (id bigserial PRIMARY KEY, body text)")
    database_bytes = 0
    while database_bytes < size:
        cursor.execute(
            "INSERT INTO bench_filler (body) "
            "SELECT md5(random()::text) || ' ' || md5(random()::text) || ' ' || "
            "md5(random()::text) || ' ' || md5(random()::text) FROM generate_series(1, 7800)"
        )
        cursor.execute("SELECT pg_database_size(current_database())")
        database_bytes = cursor.fetchone()[0]
    cursor.execute("SELECT count(*) FROM bench_filler")
    print(database_bytes, cursor.fetchone()[0])
"""

COUNT = """
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("SELECT count(*) FROM bench_filler")
    print(cursor.fetchone()[0])
"""


def manage(site, *arguments: str) -> subprocess.CompletedProcess[str]:
    done = site.manage(*arguments)
    if done.returncode != 0:
        sys.exit(f"manage.py {arguments[0]} failed:\n{done.stdout}\n{done.stderr}")
    return done


def folder_size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def measure(runs: int, size_mb: int) -> dict:
    with tempfile.TemporaryDirectory() as scratch, postgres_server() as server:
        scratch = Path(scratch)
        src = copy_template(scratch / "template")
        project = scratch / "project"
        copier.run_copy(str(src), project, defaults=True, unsafe=True, quiet=True)
        python = find_project_python()
        identity = scratch / "identity.txt"
        subprocess.run(["age-keygen", "-o", identity], check=True, capture_output=True)
        recipient = subprocess.run(
            ["age-keygen", "-y", identity], check=True, capture_output=True, text=True
        ).stdout.strip()
        backups, uploads = scratch / "backups", scratch / "uploads"
        backups.mkdir(mode=0o700)
        uploads.mkdir(mode=0o750)
        site = prepare_site(
            project,
            python,
            create_database(python, server, "bench_backup"),
            "redis://127.0.0.1:1/0",
            environ={
                "DJANGO_BACKUP_DIR": str(backups),
                "DJANGO_BACKUP_RECIPIENTS": recipient,
                "DJANGO_UPLOAD_ROOT": str(uploads),
            },
        )
        site.env["BENCH_SIZE_MB"] = str(size_mb)
        database_bytes, rows = map(
            int, manage(site, "shell", "--no-imports", "-c", FILL).stdout.split()
        )
        for number in range(max(1, size_mb // 10)):
            (uploads / f"{number:04d}.bin").write_bytes(os.urandom(1024 * 1024))
        upload_bytes = folder_size(uploads)
        backup_times, restore_times, backup_bytes = [], [], 0
        for _ in range(runs):
            for old in backups.iterdir():
                shutil.rmtree(old)
            started = time.perf_counter()
            manage(site, "backup")
            backup_times.append(time.perf_counter() - started)
            (backup,) = list(backups.iterdir())
            backup_bytes = folder_size(backup)
            recreated = run(
                [
                    python,
                    "-c",
                    "import sys, psycopg\n"
                    "with psycopg.connect(sys.argv[1], autocommit=True) as db:\n"
                    "    db.execute('DROP DATABASE bench_backup WITH (FORCE)')\n"
                    "    db.execute('CREATE DATABASE bench_backup')",
                    f"{server}/postgres",
                ],
                cwd=project,
            )
            if recreated.returncode != 0:
                sys.exit(recreated.stderr)
            shutil.rmtree(uploads)
            uploads.mkdir(mode=0o750)
            started = time.perf_counter()
            manage(site, "restore_backup", backup.name, "--identity", str(identity))
            restore_times.append(time.perf_counter() - started)
            restored = int(manage(site, "shell", "--no-imports", "-c", COUNT).stdout)
            if restored != rows or folder_size(uploads) != upload_bytes:
                sys.exit(f"the restore brought back {restored} of {rows} rows")
        return {
            "database_bytes": database_bytes,
            "upload_bytes": upload_bytes,
            "backup_bytes": backup_bytes,
            "backup": backup_times,
            "restore": restore_times,
        }


def table(results: dict, runs: int, size_mb: int) -> str:
    mib = 1024 * 1024
    saved = (results["database_bytes"] + results["upload_bytes"]) / mib
    lines = [
        f"Measured {date.today()} on {platform.machine()} ({os.cpu_count()} cores), PostgreSQL "
        f"on loopback, --size-mb {size_mb}, {runs} runs: a database of "
        f"{results['database_bytes'] / mib:.0f} MiB (pg_database_size) and "
        f"{results['upload_bytes'] / mib:.0f} MiB of uploaded files; the encrypted backup is "
        f"{results['backup_bytes'] / mib:.0f} MiB.",
        "",
        "| step | median | min | max | throughput (median) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for step in ("backup", "restore"):
        times = results[step]
        median = statistics.median(times)
        lines.append(
            f"| `{step if step == 'backup' else 'restore_backup'}` | {median:.1f} s "
            f"| {min(times):.1f} s | {max(times):.1f} s | {saved / median:.0f} MiB/s |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size-mb", type=int, default=1024, help="the database's size to fill")
    parser.add_argument("--write", type=Path, help="rewrite the table in this markdown file")
    options = parser.parse_args()
    result = table(measure(options.runs, options.size_mb), options.runs, options.size_mb)
    print(result)
    if options.write:
        replace_block(options.write, "backup", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
