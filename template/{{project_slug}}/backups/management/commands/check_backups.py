"""`python manage.py check_backups`: are the backups fit to restore from today?

Fails, and alerts through the security log (backup.stale, backup.unprotected), when the newest
backup in BACKUP_DIR is older than BACKUP_MAX_AGE or missing, and when the bucket of uploaded
files, if any, has no versioning. The backup service runs it after each backup; a schedule that
stops altogether is seen only by a check run from elsewhere (docs/backups.md, docs/security.md's
Known limits).
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
