"""Django's makemigrations, whose files then pass the project's own `ruff format --check` and
`ruff check` as written: Django formats what it writes with black when black is on PATH, and
otherwise not at all, in neither case as the project's ruff configuration (pyproject.toml) asks."""

import subprocess
import sys

from django.core.management.commands import makemigrations


class Command(makemigrations.Command):
    def write_migration_files(self, changes, update_previous_migration_paths=None):
        super().write_migration_files(changes, update_previous_migration_paths)
        if self.written_files:
            # The virtualenv's ruff, the one the checks run, whether or not .venv/bin is on PATH.
            # Its arguments are this interpreter and the paths Django has just written.
            ruff = [sys.executable, "-m", "ruff"]
            fix = [*ruff, "check", "--fix", "--quiet", *self.written_files]
            subprocess.run(fix, check=True)  # noqa: S603
            subprocess.run([*ruff, "format", "--quiet", *self.written_files], check=True)  # noqa: S603
