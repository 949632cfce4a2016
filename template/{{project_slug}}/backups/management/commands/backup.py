"""`python manage.py backup`: an encrypted backup of the database and the uploaded files.

Writes a new backup into BACKUP_DIR (backups/archive.py), then deletes those that the retention
settings (BACKUP_KEEP_DAILY, _WEEKLY, _MONTHLY) no longer keep. The systemd timer, the compose
service or the platform's scheduler runs it daily (docs/backups.md). A failure is logged as
backup.failed, which alerts the admins, and ends the command with a non-zero status.
"""

import time

from django.core.management.base import BaseCommand, CommandError

from ...archive import BackupError, back_up


class Command(BaseCommand):
    help = "Back up the database and the uploaded files, encrypted, and prune old backups."

    def handle(self, *args, **options) -> None:
        started = time.monotonic()
        try:
            backup, removed = back_up()
        except BackupError as error:
            raise CommandError(f"The backup failed: {error}") from None
        seconds = time.monotonic() - started
        self.stdout.write(f"Backup {backup.path} written in {seconds:.1f} s.")
        for old in removed:
            self.stdout.write(f"Removed {old.name}, which retention no longer keeps.")
