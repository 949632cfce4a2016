"""A migration that makemigrations writes passes the project's own ruff checks as written."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command


# makemigrations checks the migration history against the database first.
@pytest.mark.django_db
def test_a_new_migration_passes_ruff_format_and_ruff_check_without_edits(monkeypatch):
    # ruff's cache would be written into the project, beside the files the suite reads.
    monkeypatch.setenv("RUFF_NO_CACHE", "true")
    call_command("makemigrations", "accounts", "--empty", "--name", "ruff_probe", verbosity=0)
    (written,) = Path(settings.BASE_DIR).glob("*/accounts/migrations/*_ruff_probe.py")
    try:
        for check in (["format", "--check"], ["check"]):
            done = subprocess.run(
                [sys.executable, "-m", "ruff", *check, written],
                cwd=settings.BASE_DIR,
                capture_output=True,
                text=True,
                check=False,
            )
            assert done.returncode == 0, done.stdout + done.stderr
    finally:
        written.unlink()
