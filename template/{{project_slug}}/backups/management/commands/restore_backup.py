"""`python manage.py restore_backup BACKUP --identity KEY`: bring a backup back.

Restores the database and the uploaded files of BACKUP (a folder, or its name in BACKUP_DIR)
into the database and upload folder of the settings, which must be empty: --force replaces what
is there. Every file is decrypted with the age identity KEY and checked against the backup's
manifest before anything changes. docs/backups.md and the runbook's data-loss scenarios say when.
"""

import logging
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ...archive import BackupError, log_event, restore


class Command(BaseCommand):
    help = "Restore a backup into an empty database and upload folder."

    def add_arguments(self, parser) -> None:
        parser.add_argument("backup", help="the backup's folder, or its name in BACKUP_DIR")
        parser.add_argument(
            "--identity",
            required=True,
            type=Path,
            help="the age identity (private key) file that decrypts the backups",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="replace the tables and files already there (the default refuses)",
        )

    def handle(self, *args, backup: str, identity: Path, force: bool, **options) -> None:
        folder = Path(backup)
        if not folder.is_dir():
            folder = Path(settings.BACKUP_DIR) / backup
        if not folder.is_dir():
            raise CommandError(f"No backup {backup}, neither a folder nor in BACKUP_DIR.")
        try:
            manifest = restore(folder, identity, force=force)
        except (BackupError, OSError) as error:
            log_event("backup.restore_failed", level=logging.ERROR, backup=folder.name)
            raise CommandError(f"The restore stopped: {error}") from None
        log_event("backup.restored", level=logging.WARNING, backup=folder.name, forced=force)
        self.stdout.write(
            f"Restored {folder.name} (made {manifest['created']}, migrations as of then; "
            "run `manage.py migrate` if the code is newer)."
        )
