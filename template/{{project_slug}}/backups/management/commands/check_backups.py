"""`python manage.py check_backups`: are the backups fit to restore from today?

Fails, and alerts through the security log (backup.stale, backup.last_run_failed,
backup.unprotected), when the newest backup in BACKUP_DIR is older than BACKUP_MAX_AGE or missing,
when the last backup run failed, and when the bucket of uploaded files, if any, has no
versioning. It runs on a schedule of its own, apart from the backups and with read access to them
only, so that backups that stopped altogether alert too (docs/backups.md).
"""

from django.core.management.base import BaseCommand, CommandError

from ...archive import newest_age_hours, problems


class Command(BaseCommand):
    help = "Check that a recent backup exists (and the upload bucket keeps versions)."

    def handle(self, *args, **options) -> None:
        found = problems()
        if found:
            raise CommandError("\n".join(found))
        self.stdout.write(f"The newest backup is {newest_age_hours()} hours old.")
